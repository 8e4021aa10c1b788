#!/usr/bin/env bash
# The benchmark suite of snakepit-shm (issue 3): builds (scripts/build.sh), then runs
#   a  control  control path: allocate+release pairs, node vs a pure-Erlang node
#   b  data     data path: BEAM <-> Python through shared memory vs memcpy vs a Port pipe
#   c  map      map/attach time of 4 KiB .. 1 GiB regions from Python and Java
#   d  scale    pair latency with 1k/10k/100k live regions; stale sweep of 10k segments
# and writes benchmarks/out/<UTC timestamp>/results.json plus report.md and latency.svg.
# A full run also updates the results section of BENCHMARKS.md and docs/bench/latency.svg.
# Benchmarks assert nothing about timings; a part fails only if it cannot run or sees
# wrong data. Works from any directory. See BENCHMARKS.md.
# Run as root, part b also measures its shared-memory handoffs on a tmpfs with
# transparent huge pages, which this script mounts at /dev/shm/snkbench-<run id>-thp
# for the duration of part b and always unmounts (also on failure and Ctrl-C).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<'USAGE'
usage: scripts/bench.sh [--quick | --full] [--only PARTS] [--publish | --no-publish] [--no-build]

  --full          the real run (default): about 3 minutes on 2 cores, plus the build
  --quick         a short smoke run (under 1 minute): fewer samples, no 1 GiB pipe,
                  scale to 10k regions, sweep of 2k segments
  --only PARTS    comma-separated parts to run: a|control, b|data, c|map, d|scale
                  (default: all)
  --publish       write the results into BENCHMARKS.md and docs/bench/latency.svg
                  (default for --full)
  --no-publish    do not touch BENCHMARKS.md (default for --quick)
  --no-build      skip scripts/build.sh (the jar must already be built)
  -h, --help      this text

As root, part b mounts a tmpfs with huge=within_size for a second pass on 2 MiB
pages (unmounted at the end); otherwise that pass is reported as not measured.
USAGE
}

die() { echo "bench: error: $*" >&2; exit 2; }

mode=full
publish=
build=1
only="a,b,c,d"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --only) [ $# -ge 2 ] || die "--only needs a value (e.g. --only a,c)"; only="$2"; shift ;;
    --only=*) only="${1#--only=}" ;;
    --publish) publish=1 ;;
    --no-publish) publish=0 ;;
    --no-build) build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done
[ -n "$publish" ] || { [ "$mode" = full ] && publish=1 || publish=0; }

parts=()
IFS=',' read -r -a wanted <<< "$only"
for p in "${wanted[@]}"; do
  case "$p" in
    a|control|control_path) parts+=(control_path) ;;
    b|data|data_path) parts+=(data_path) ;;
    c|map|map_attach) parts+=(map_attach) ;;
    d|scale) parts+=(scale) ;;
    "") ;;
    *) die "unknown part '$p' in --only (use a,b,c,d or control,data,map,scale)" ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || die "--only selected no part"

command="scripts/bench.sh --$mode"
[ "$only" = "a,b,c,d" ] || command+=" --only $only"

if [ "$build" = 1 ]; then
  echo "bench: building (scripts/build.sh)"
  "$root/scripts/build.sh"
fi
[ -f "$root/java_node/target/snakepit-shm-node.jar" ] \
  || die "java_node/target/snakepit-shm-node.jar is missing: run scripts/build.sh (or drop --no-build)"
for tool in elixir python3 java epmd; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (scripts/setup.sh installs what is needed)"
done

stamp="$(date -u +%Y%m%d-%H%M%S)"
out="$root/benchmarks/out/$stamp"
rid="$(date -u +%H%M%S)$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
started="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
mkdir -p "$out"
secret_dir="$(mktemp -d "${TMPDIR:-/tmp}/snkbench-$rid-XXXXXX")"
chmod 700 "$secret_dir"
cookie_file="$secret_dir/cookie"
( umask 077; od -An -N20 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F' > "$cookie_file" )
exec > >(trap "" INT TERM HUP; exec tee -a "$out/console.log") 2>&1

# Every process of this run has the run id on its command line (node names
# snkbench_<rid>_*, --run-id <rid>, -Dsnkbench.run=<rid>); shm dirs are /dev/shm/snkbench-<rid>-*.
run_pids() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    [ "$pid" = "$$" ] && continue
    cmd="$( { tr '\0' ' ' < "$f"; } 2>/dev/null )" || continue
    case "$cmd" in
      *"snkbench_${rid}_"*|*"--run-id ${rid}"*|*"snkbench.run=${rid}"*) echo "$pid" ;;
    esac
  done
}

# --- the huge-page tmpfs of part b ------------------------------------------------------
# data_path.exs hands over regions of up to 1 GiB in both modes, one after the other;
# a released region lives on for the node's grace_ms (100 ms), so up to three may exist
# at once (the three handoffs of a repetition can follow each other within 100 ms), and
# the node accepts at most half its directory's size (max_total_bytes). So the tmpfs is
# sized 6 x the largest region + 64 MiB (data_path.exs checks the same rule); it never
# holds more than 3 regions, and the pass runs only if memory for those and for the
# part's own buffers of the largest size (BEAM payload, Python source, receive buffer,
# memcpy target) is available.
thp_largest_mib=1024
thp_dir=
thp_skipped=

is_mounted() { awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/mounts; }

mount_huge_page_tmpfs() {
  local dir="/dev/shm/snkbench-$rid-thp" size_mib=$((6 * thp_largest_mib + 64)) need_mib avail_mib err
  need_mib=$((7 * thp_largest_mib))
  if [ "$(id -u)" != 0 ]; then
    thp_skipped="not running as root (mounting a tmpfs with huge=within_size needs root)"
    return 0
  fi
  avail_mib="$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)"
  if [ -z "$avail_mib" ] || [ "$avail_mib" -lt "$need_mib" ]; then
    thp_skipped="only ${avail_mib:-?} MiB of memory available, the pass needs about $need_mib MiB"
    return 0
  fi
  if ! err="$(mkdir -m 700 "$dir" 2>&1)"; then
    thp_skipped="cannot create $dir: ${err%%$'\n'*}"
    return 0
  fi
  thp_dir="$dir"
  if ! err="$(mount -t tmpfs -o "size=${size_mib}m,huge=within_size,mode=0700" tmpfs "$dir" 2>&1)"; then
    err="${err%%$'\n'*}"
    thp_skipped="mount -t tmpfs -o huge=within_size failed: ${err:-no message}"
    unmount_huge_page_tmpfs
    return 0
  fi
  if ! grep -qs " $dir tmpfs .*huge=within_size" /proc/mounts; then
    thp_skipped="the kernel mounted $dir without huge=within_size (no transparent huge pages for shmem?)"
    unmount_huge_page_tmpfs
    return 0
  fi
  echo "bench: huge pages: tmpfs with huge=within_size, ${size_mib} MiB, mounted at $dir"
}

# Unmounts (retrying while the part's processes finish exiting, then lazily) and removes
# the mount point. Safe to call at any time, also when nothing was mounted.
unmount_huge_page_tmpfs() {
  local dir="$thp_dir" try was_mounted=0
  [ -n "$dir" ] || return 0
  for try in 1 2 3 4 5 6; do
    is_mounted "$dir" || break
    was_mounted=1
    umount "$dir" 2>/dev/null && break
    sleep 0.5
  done
  if is_mounted "$dir"; then
    umount -l "$dir" 2>/dev/null || echo "bench: error: could not unmount $dir: run 'umount -l $dir'" >&2
  fi
  is_mounted "$dir" || rmdir "$dir" 2>/dev/null || true
  if [ ! -e "$dir" ]; then
    thp_dir=
    if [ "$was_mounted" = 1 ]; then echo "bench: huge pages: unmounted and removed $dir"; fi
  fi
}

part_pid=
cleanup() {
  local status=$? pids leftovers=0
  trap - EXIT INT TERM HUP
  # Best effort to the end: neither a failing command nor a closed terminal (SIGPIPE)
  # may stop the cleanup half-way, which could leave the huge-page tmpfs mounted.
  set +e
  trap "" PIPE
  if [ -n "$part_pid" ] && kill -0 "$part_pid" 2>/dev/null; then
    kill -TERM "$part_pid" 2>/dev/null || true
    sleep 2
  fi
  pids="$(run_pids)"
  if [ -n "$pids" ]; then
    echo "bench: stopping leftover processes of this run: $(echo $pids)" >&2
    kill -TERM $pids 2>/dev/null || true
    sleep 2
    pids="$(run_pids)"
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  fi
  unmount_huge_page_tmpfs
  for d in /dev/shm/snkbench-"$rid"-*; do
    [ -e "$d" ] || continue
    leftovers=1
    rm -rf "$d"
  done
  [ "$leftovers" = 0 ] || echo "bench: removed leftover shm directories /dev/shm/snkbench-$rid-*" >&2
  rm -rf "$secret_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

# The BEAMs ignore Ctrl-C (+Bi, no BREAK menu): this script's trap stops them.
export ELIXIR_ERL_OPTIONS="${ELIXIR_ERL_OPTIONS:+$ELIXIR_ERL_OPTIONS }+Bi"
epmd -daemon
echo "bench: $command -> $out (run id $rid)"
python3 "$root/benchmarks/collect.py" machine --root "$root" --out "$out/machine-start.json"

failed=()
for part in "${parts[@]}"; do
  echo "bench: --- $part ---"
  t0=$SECONDS
  part_env=()
  if [ "$part" = data_path ]; then
    mount_huge_page_tmpfs
    [ -z "$thp_skipped" ] || echo "bench: huge pages: not measured: $thp_skipped"
    part_env=("SNKBENCH_THP_DIR=$thp_dir" "SNKBENCH_THP_SKIPPED=$thp_skipped")
  fi
  # In the background so that Ctrl-C reaches this script's trap at once.
  env "${part_env[@]}" elixir "$root/benchmarks/$part.exs" --root "$root" --out "$out" \
    --mode "$mode" --run-id "$rid" --cookie-file "$cookie_file" &
  part_pid=$!
  if wait "$part_pid"; then
    echo "bench: $part done in $((SECONDS - t0)) s"
  else
    echo "bench: $part FAILED (status $?) after $((SECONDS - t0)) s; its logs: $out/logs/" >&2
    failed+=("$part")
  fi
  part_pid=
  unmount_huge_page_tmpfs
done

python3 "$root/benchmarks/collect.py" merge --root "$root" --out-dir "$out" --mode "$mode" \
  --command "$command" --started "$started" --parts "${parts[*]}" --failed "${failed[*]:-}" >/dev/null
render_args=("$out/results.json" --summary)
[ "$publish" = 1 ] && render_args+=(--publish)
echo "bench: goals of issue 3:"
python3 "$root/benchmarks/render.py" "${render_args[@]}"
echo "bench: results: $out/results.json"
echo "bench: report:  $out/report.md, $out/latency.svg"
[ "$publish" = 1 ] && echo "bench: updated BENCHMARKS.md and docs/bench/latency.svg"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed parts: ${failed[*]}" >&2
  exit 1
fi
