#!/usr/bin/env bash
# Runs every benchmark in bench/ once, in its default configuration (the realistic one: a
# memory limit on the workloads, the default readiness probe, realistic body sizes; see
# docs/benchmarks.md), one after the other, and saves each one's output in a directory:
#   scripts/bench.sh [OUT_DIR]          (default: bench-results/<UTC time>-<commit>)
# Builds the benchmark targets first in $TIDE_BUILD_DIR (default: build). Each output file
# starts with the command, the commit, the build type and `uptime` (the load average: on a
# shared machine the figures move with it), and ends with `uptime` and the exit code (0 all
# targets passed, 1 a target was missed, 2 the setup failed). SUMMARY lists every verdict line.
# Extra arguments for one benchmark: BENCH_ARGS_<name>, e.g. BENCH_ARGS_warm_bench="--rounds 5".
# Runs take about 10 minutes (coldstart_bench about 5); the machine should be otherwise idle for figures worth quoting.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TIDE_BUILD_DIR:-build}
BENCHES=(scale_bench coldstart_bench warm_bench autoscale_bench failover_bench fleet_bench
  keepalive_bench idle_bench)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  COMMIT="$COMMIT+uncommitted"
fi
OUT=${1:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)-${COMMIT}}
mkdir -p "$OUT" || exit 2

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja || exit 2
fi
cmake --build "$BUILD_DIR" -j 2 --target "${BENCHES[@]}" || exit 2
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")

worst=0
: >"$OUT/SUMMARY"
for b in "${BENCHES[@]}"; do
  var="BENCH_ARGS_$b"
  read -r -a extra <<<"${!var:-}"
  file="$OUT/$b.txt"
  {
    echo "\$ $BUILD_DIR/bench/$b ${extra[*]}"
    echo "commit $COMMIT, build type ${BUILD_TYPE:-RelWithDebInfo (the default)}, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "uptime before: $(uptime)"
  } >"$file"
  echo "== $b (output in $file)"
  "$BUILD_DIR/bench/$b" "${extra[@]}" >>"$file" 2>&1
  rc=$?
  {
    echo "uptime after: $(uptime)"
    echo "exit code $rc"
  } >>"$file"
  grep -E 'PASS|MISS' "$file" | sed "s/^/$b: /" | tee -a "$OUT/SUMMARY"
  [ "$rc" -gt "$worst" ] && worst=$rc
done
echo "outputs in $OUT"
exit "$worst"
