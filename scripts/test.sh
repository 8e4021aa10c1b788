#!/usr/bin/env bash
# Runs every test of snakepit-shm, in stages:
#   setup      scripts/setup.sh (installs what is missing)
#   build      scripts/build.sh (Java node jar, Elixir demo)
#   java-unit  mvn verify -pl java_node   (Surefire unit tests of the node)
#   e2e        mvn verify -pl test        (Failsafe end-to-end tests: real epmd, node,
#                                          elixir, python3, /dev/shm)
#   elixir     mix test in elixir_demo
#   python     python3 -m pytest -q in python_demo
#   leaks      nothing left behind: no new /dev/shm/snk* or /dev/shm/psm_* entries, no
#              process started by this run still alive (epmd excepted: it is shared)
# Every stage runs even when an earlier one failed. Prints one line per stage, the log of
# each failed stage, a summary and the total time; exits 1 if any stage failed.
# SNAKEPIT_TEST_VERBOSE=1 streams every stage's output as it runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
verbose="${SNAKEPIT_TEST_VERBOSE:-0}"

# Every process this run starts inherits this marker, so the leak check can find any
# survivor by its environment, whatever its name or parent.
run_id="$$-$(date +%s%N)"
export SNAKEPIT_TEST_RUN="$run_id"
log_dir="$(mktemp -d "${TMPDIR:-/tmp}/snakepit-test.XXXXXX")"
run_started_s=$SECONDS

shm_entries() {
  local f
  for f in /dev/shm/snk* /dev/shm/psm_*; do if [ -e "$f" ]; then echo "$f"; fi; done | sort
}
suspect_pids() { # name-matched processes; the leak check only reports the new orphans
  { pgrep -f 'snakepit-shm|snakepit_shm' || true; pgrep -x beam.smp || true; } | sort -u
}
shm_before="$(shm_entries)"
suspects_before="$(suspect_pids)"

summary=()
failures=0

# stage NAME TIMEOUT_S COMMAND [ARG...]: runs COMMAND (in its own process group, killed
# at the timeout), logs its output to $log_dir/NAME.log, records PASS/FAIL.
stage() {
  local name="$1" limit_s="$2"; shift 2
  local started_s=$SECONDS rc=0 log="$log_dir/$name.log"
  if [ "$verbose" = 1 ]; then
    echo "test: ---- $name: $*"
    timeout --kill-after=15 "$limit_s" "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  else
    timeout --kill-after=15 "$limit_s" "$@" >"$log" 2>&1 || rc=$?
  fi
  record "$name" "$rc" "$((SECONDS - started_s))" "$limit_s" "$log"
}

record() {
  local name="$1" rc="$2" elapsed_s="$3" limit_s="$4" log="$5" line
  if [ "$rc" = 0 ]; then
    line=$(printf '%-10s PASS %5ds' "$name" "$elapsed_s")
  else
    failures=$((failures + 1))
    local why="exit status $rc"
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && why="timed out after ${limit_s}s"
    line=$(printf '%-10s FAIL %5ds  (%s; log: %s)' "$name" "$elapsed_s" "$why" "$log")
    if [ "$verbose" != 1 ]; then
      echo "test: ---------------- $name log ----------------"
      cat "$log"
      echo "test: ---------------- end of $name log ---------"
    fi
  fi
  echo "test: $line"
  summary+=("$line")
}

# Parent pid of PID, from /proc/PID/stat (the command name may contain spaces).
parent_of() {
  local stat rest
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  rest="${stat##*) }"
  set -- $rest
  echo "$2"
}

# True if PID is this script or one of its descendants (the leak check's own helpers).
is_ours_now() {
  local pid="$1" hops=0
  while [ -n "$pid" ] && [ "$pid" -gt 1 ] && [ $hops -lt 64 ]; do
    [ "$pid" = $$ ] && return 0
    pid="$(parent_of "$pid")" || return 1
    hops=$((hops + 1))
  done
  return 1
}

# Live processes whose environment carries this run's marker (epmd excepted: one epmd
# serves every node of the machine), other than this script and its helpers.
marked_pids() {
  local dir pid kv comm found
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    found=0
    while IFS= read -r -d '' kv || [ -n "$kv" ]; do
      if [ "$kv" = "SNAKEPIT_TEST_RUN=$run_id" ]; then found=1; break; fi
    done 2>/dev/null <"$dir/environ" || continue
    [ $found = 1 ] || continue
    comm=""; read -r comm 2>/dev/null <"$dir/comm" || true
    [ "$comm" = epmd ] && continue
    is_ours_now "$pid" && continue
    echo "$pid"
  done
}

# New name-matched processes (snakepit-shm, beam.smp) that were orphaned (parent init).
new_orphans() {
  local pid ppid
  for pid in $(comm -13 <(echo "$suspects_before") <(suspect_pids)); do
    ppid="$(parent_of "$pid")" || continue
    [ "$ppid" = 1 ] && echo "$pid"
  done
}

check_leaks() {
  local attempt new_shm="" strays="" pid
  # A node told to stop by the last stage may need a moment to finish its cleanup.
  for attempt in 1 2 3 4 5 6; do
    new_shm="$(comm -13 <(echo "$shm_before") <(shm_entries))"
    strays="$( { marked_pids; new_orphans; } | sort -un)"
    [ -z "$new_shm$strays" ] && return 0
    sleep 1
  done
  if [ -n "$new_shm" ]; then
    echo "leaks: entries left in /dev/shm by this run:"
    sed 's/^/  /' <<<"$new_shm"
  fi
  if [ -n "$strays" ]; then
    echo "leaks: processes started by this run still alive (now stopped):"
    for pid in $strays; do
      echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)"
    done
    # Stop only these processes, by pid: TERM, then KILL what is left.
    kill -TERM $strays 2>/dev/null || true
    sleep 2
    kill -KILL $strays 2>/dev/null || true
  fi
  return 1
}

jinterface_version=""

stage setup 900 "$root/scripts/setup.sh"
jinterface_version="$("$root/scripts/install-jinterface.sh" --quiet 2>/dev/null || true)"
mvn_args=(-B -Dstyle.color=never -f "$root/pom.xml" ${jinterface_version:+-Djinterface.version="$jinterface_version"})

stage build     240 "$root/scripts/build.sh"
stage java-unit 240 mvn "${mvn_args[@]}" -pl java_node verify
stage e2e       240 mvn "${mvn_args[@]}" -pl test verify
stage elixir    150 bash -c 'cd "$1" && mix test' _ "$root/elixir_demo"
stage python    120 bash -c 'cd "$1" && python3 -m pytest -q' _ "$root/python_demo"

leaks_started_s=$SECONDS
leaks_rc=0
check_leaks >"$log_dir/leaks.log" 2>&1 || leaks_rc=$?
[ "$verbose" = 1 ] && cat "$log_dir/leaks.log"
record leaks "$leaks_rc" "$((SECONDS - leaks_started_s))" 30 "$log_dir/leaks.log"

# Test counts of every runner, read from the stage logs: Surefire/Failsafe totals,
# ExUnit's "N tests, M failures", pytest's "N passed, M failed".
count_tests() {
  local passed=0 failed=0 n f
  for log in "$log_dir"/java-unit.log "$log_dir"/e2e.log; do
    [ -f "$log" ] || continue
    # the module totals: "Tests run: N, Failures: F, Errors: E, Skipped: S" with nothing after
    read -r n f < <(awk '/Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$/ {
        gsub(/,/, ""); for (i = 1; i <= NF; i++) {
          if ($i == "run:") r += $(i + 1); if ($i == "Failures:") x += $(i + 1)
          if ($i == "Errors:") x += $(i + 1); if ($i == "Skipped:") k += $(i + 1) } }
      END { print r - k - x, x + 0 }' "$log")
    passed=$((passed + n)); failed=$((failed + f))
  done
  if [ -f "$log_dir/elixir.log" ]; then
    # "10 doctests, 47 tests, 0 failures" or "47 tests, 0 failures"
    read -r n f < <(awk '/[0-9]+ tests?, [0-9]+ failures?/ { t = 0; x = 0; gsub(/,/, "")
        for (i = 2; i <= NF; i++) { if ($i ~ /^(doctests?|tests?)$/) t += $(i - 1); if ($i ~ /^failures?$/) x = $(i - 1) }
        lt = t; lx = x }
      END { print lt - lx, lx + 0 }' "$log_dir/elixir.log")
    passed=$((passed + n)); failed=$((failed + f))
  fi
  if [ -f "$log_dir/python.log" ]; then
    read -r n f < <(awk '/ (passed|failed)/ { p = 0; x = 0; gsub(/,/, "")
        for (i = 2; i <= NF; i++) { if ($i == "passed") p = $(i - 1); if ($i == "failed" || $i ~ /^errors?$/) x += $(i - 1) }
        lp = p; lx = x }
      END { print lp + 0, lx + 0 }' "$log_dir/python.log")
    passed=$((passed + n)); failed=$((failed + f))
  fi
  echo "$passed $failed"
}

echo "test: ================ summary ================"
for line in "${summary[@]}"; do echo "test: $line"; done
read -r tests_passed tests_failed < <(count_tests)
total_s=$((SECONDS - run_started_s))
echo "tests: $tests_passed passed, $tests_failed failed"
if [ "$failures" = 0 ]; then
  echo "test: all ${#summary[@]} stages passed in ${total_s}s"
  rm -rf "$log_dir"
  exit 0
fi
echo "test: $failures of ${#summary[@]} stages FAILED in ${total_s}s (logs in $log_dir)"
exit 1
