#!/usr/bin/env bash
# In-JVM scale benchmarks of the registry (issue 3, goal 2): allocate/release latency at
# 1k, 10k and 100k live regions (JMH), then JVM heap per live region.
#
# Usage: benchmarks/jmh/run.sh [--no-build] [--no-heap] [--heap-only] [JMH args...]
#   Works from any directory. JMH args pass through, e.g.
#     benchmarks/jmh/run.sh RegistryScaleBenchmark -p liveRegions=100000 -prof gc
#     benchmarks/jmh/run.sh -wi 1 -w 1s -i 3 -r 1s      (a quick, noisy run)
#   Defaults (in the benchmark annotations, sized for 2 cores): -f 1 -wi 3 -w 2s -i 5 -r 2s,
#   modes SampleTime (p50/p99/p99.9) and AverageTime. Results: benchmarks/out/jmh-<ts>.json
#   (unless -rf/-rff are given), summaries jmh-<ts>-summary.txt and heap-<ts>.txt beside it.
#   Env: HEAP_REGIONS (default 100000), HEAP_REPEATS (default 5).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/benchmarks/out"
jar="$here/target/benchmarks.jar"

build=1 jmh=1 heap=1
jmh_args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --no-heap) heap=0 ;;
    --heap-only) jmh=0 ;;
    *) jmh_args+=("$a") ;;
  esac
done

# Segment dirs this run makes are removed by the benchmark JVMs, even on failure (shutdown
# hooks). Belt and braces: at exit, remove new snkbench-jmh-* dirs that no process uses.
before=$(ls -d /dev/shm/snkbench-jmh-* 2>/dev/null || true)
cleanup() {
  for d in /dev/shm/snkbench-jmh-*; do
    [ -d "$d" ] || continue
    grep -qxF "$d" <<<"$before" && continue
    if ! ls -l /proc/[0-9]*/fd 2>/dev/null | grep -qF -- "$d/"; then
      rm -rf -- "$d"
    fi
  done
}
trap cleanup EXIT

if [ $build = 1 ]; then
  jv=$("$root/scripts/install-jinterface.sh" --quiet)
  echo "run.sh: building java_node and the benchmark jar..." >&2
  (cd "$root" && mvn -q -B -DskipTests install -pl java_node -am -Djinterface.version="$jv")
  (cd "$root" && mvn -q -B -f benchmarks/jmh/pom.xml package -Djinterface.version="$jv")
fi
[ -f "$jar" ] || { echo "run.sh: $jar missing; run without --no-build" >&2; exit 1; }

mkdir -p "$out"
ts=$(date +%Y%m%d-%H%M%S)
summary_jmh="$out/jmh-$ts-summary.txt"
summary_heap="$out/heap-$ts.txt"
java_opts=(-Dorg.slf4j.simpleLogger.defaultLogLevel=warn)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(java -version 2>&1 | head -1)"

if [ $jmh = 1 ]; then
  result_args=()
  has_rf=0
  for a in "${jmh_args[@]+"${jmh_args[@]}"}"; do
    case "$a" in -rf|-rff) has_rf=1 ;; esac
  done
  [ $has_rf = 1 ] || result_args=(-rf json -rff "$out/jmh-$ts.json")
  java "${java_opts[@]}" -Dsnakepit.bench.summary="$summary_jmh" -jar "$jar" \
    "${jmh_args[@]+"${jmh_args[@]}"}" "${result_args[@]+"${result_args[@]}"}"
fi

if [ $heap = 1 ]; then
  java "${java_opts[@]}" -Xms1g -Xmx1g -cp "$jar" io.snakepit.shm.bench.HeapPerRegion \
    --regions "${HEAP_REGIONS:-100000}" --repeats "${HEAP_REPEATS:-5}" --summary "$summary_heap"
fi

echo
echo "================ summary ($ts) ================"
[ -f "$summary_jmh" ] && cat "$summary_jmh"
[ -f "$summary_heap" ] && cat "$summary_heap"
[ $jmh = 1 ] && [ -f "$out/jmh-$ts.json" ] && echo "JMH results: $out/jmh-$ts.json"
exit 0
