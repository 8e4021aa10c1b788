#!/usr/bin/env bash
# Where the allocate+release+tick operation spends its time at 1k and 100k live regions:
# RegistryScaleBenchmark in AverageTime under JFR (JMH's -prof jfr) and -prof gc, then
# jfr_top.py on each recording (CPU self/inclusive shares, allocation by class and site).
#
# Usage: benchmarks/jmh/profile.sh [--no-build] [liveRegions list, default 1000,100000] [JMH args...]
#   e.g. benchmarks/jmh/profile.sh --no-build 100000 -r 5s
# Recordings: benchmarks/out/jfr-<ts>/<benchmark-mode-params>/profile.jfr
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$(cd "$here/../.." && pwd)/benchmarks/out"
build_flag=()
if [ "${1:-}" = "--no-build" ]; then build_flag=(--no-build); shift; fi
live=1000,100000
if [[ "${1:-}" =~ ^[0-9,]+$ ]]; then live=$1; shift; fi
ts=$(date +%Y%m%d-%H%M%S)
dir="$out/jfr-$ts"
mkdir -p "$dir"
"$here/run.sh" "${build_flag[@]+"${build_flag[@]}"}" --no-heap RegistryScaleBenchmark -p liveRegions="$live" \
  -bm avgt -wi 2 -w 1s -i 3 -r 4s -prof gc -prof "jfr:dir=$dir;configName=profile" -rf json \
  -rff "$dir/jmh.json" "$@"
for rec in "$dir"/*/profile.jfr; do
  [ -f "$rec" ] || continue
  echo
  echo "=== $(basename "$(dirname "$rec")")"
  python3 "$here/jfr_top.py" "$rec" --top 15
done
