#!/usr/bin/env bash
# Renders docs/report.png, the screenshot of `snakepit-shm report --html` in
# docs/OPERATIONS.md. Not part of CI (scripts/test.sh does not run it).
#
#   scripts/report-screenshot.sh [OUTPUT_PNG]      (default: docs/report.png)
#
# Installs Debian's chromium when it is missing (apt-get; needs root or sudo), builds the
# node jar, starts a node on a fresh shm dir, puts about 40 s of varied load on it
# (scripts/report-screenshot-load.exs: three tenants, several sessions and holders,
# releases, bad-token acquires, and a lowered alert_capacity_percent so an alert shows),
# writes the report page with the CLI, and has headless Chromium take a 1280x2000
# screenshot of it. Everything it starts or creates (node, Elixir load, Chromium and its
# profile, shm dir, temporary files) is stopped or removed on exit, also on failure or ^C.
# LOAD_SECONDS (default 40) sets how long the load runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$root/docs/report.png}")"
load_seconds="${LOAD_SECONDS:-40}"
launcher="$root/java_node/bin/snakepit-shm"

die() { echo "report-screenshot: $*" >&2; exit 1; }
say() { echo "report-screenshot: $*"; }

command -v elixir >/dev/null || die "elixir not found; run scripts/setup.sh"
if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

say "building the node jar"
jinterface_version="$("$root/scripts/install-jinterface.sh" --quiet)"
if ! mvn_out="$(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests \
                  -Djinterface.version="$jinterface_version" package -pl java_node 2>&1)"; then
  printf '%s\n' "$mvn_out" >&2
  die "the Maven build failed"
fi
"$launcher" report --help >/dev/null 2>&1 \
  || die "this build of snakepit-shm has no 'report' command"

work="$(mktemp -d /tmp/snakepit-report.XXXXXX)"
shm_dir="$(mktemp -d /dev/shm/snkreport-XXXXXX)"
node_pid=""
load_pid=""

stop() { # pid: wait up to 10 s for it to exit, then kill it
  local pid="$1" i
  [ -n "$pid" ] || return 0
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  # closing their stdin ends the load (its holders' regions are released) and then the node
  { exec 4>&-; } 2>/dev/null || true
  stop "$load_pid"
  { exec 3>&-; } 2>/dev/null || true
  stop "$node_pid"
  rm -rf "$work" "$shm_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

name="snk_report_$$"
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/cookie")
cookie="$(cat "$work/cookie")"

say "starting node $name on $shm_dir"
mkfifo "$work/node.stdin" "$work/load.stdin"
"$launcher" node --name "$name" --cookie-file "$work/cookie" --shm-dir "$shm_dir" --exit-on-stdin-eof \
  --set max_total_bytes=536870912 --set max_tenant_bytes=167772160 \
  <"$work/node.stdin" >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
exec 3>"$work/node.stdin"
for _ in $(seq 300); do
  grep -q '^ready ' "$work/node.out" 2>/dev/null && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.err" >&2; die "the node exited"; }
  sleep 0.1
done
node="$(sed -n 's/^ready //p' "$work/node.out")"
[ -n "$node" ] || die "the node did not print 'ready' within 30 s"

say "loading $node for $load_seconds s"
elixir --sname "snk_report_load_$$" --cookie "$cookie" "$root/scripts/report-screenshot-load.exs" \
  "$node" "$load_seconds" <"$work/load.stdin" >"$work/load.out" 2>&1 &
load_pid=$!
exec 4>"$work/load.stdin"
until grep -q '^LOADED' "$work/load.out" 2>/dev/null; do
  kill -0 "$load_pid" 2>/dev/null || { cat "$work/load.out" >&2; die "the load script exited"; }
  sleep 0.5
done
sed 's/^/  load: /' "$work/load.out"

say "writing the report page"
"$launcher" report --node "$node" --cookie-file "$work/cookie" --html "$work/report.html" >"$work/report.txt" \
  || { cat "$work/report.txt" >&2; die "report failed"; }
[ -s "$work/report.html" ] || die "report --html wrote nothing"

say "taking the screenshot"
mkdir -p "$(dirname "$out")"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$work/chromium-profile" --force-device-scale-factor=1 --window-size=1280,2000 \
  --screenshot="$out" "file://$work/report.html" >"$work/chromium.log" 2>&1 \
  || { cat "$work/chromium.log" >&2; die "chromium failed"; }
[ -s "$out" ] || die "chromium wrote no screenshot"
say "wrote $out"
