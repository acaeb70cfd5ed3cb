#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, docs/fuzzing.md) in their own clang build dir with
# ASan+UBSan, then runs each for SECONDS (default 600) over its seed corpus. Fails (exit 1) if
# any target crashes; the crashing input is left in BUILD/fuzz-artifacts/TARGET/.
#
#   scripts/fuzz.sh [SECONDS]
# Environment: TIDE_FUZZ_BUILD_DIR (default build-fuzz), TIDE_FUZZ_TARGETS (default all three:
# "manifest api_body gateway_request"), TIDE_FUZZ_JOBS (build jobs, default 1).
# New inputs libFuzzer finds go to BUILD/fuzz-corpus/TARGET (the seeds in git are not touched).
set -euo pipefail
secs=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDE_FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=${TIDE_FUZZ_TARGETS:-manifest api_body gateway_request}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DTIDE_FUZZ=ON \
  -DTIDE_SANITIZE=address,undefined >/dev/null
build_targets=()
for t in $targets; do build_targets+=("fuzz_$t"); done
cmake --build "$build" --target "${build_targets[@]}" -j "${TIDE_FUZZ_JOBS:-1}"

status=0
for t in $targets; do
  work="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  log="$build/fuzz-$t.log"
  mkdir -p "$work" "$artifacts"
  echo "fuzz_$t: running ${secs}s, log $log"
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$artifacts/" "$work" "$root/tests/fuzz/corpus/$t" \
    >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$t: no crash in ${secs}s, ${execs:-?} executions"
  else
    echo "fuzz_$t: FAILED, see $log; reproducer in $artifacts/" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
done
exit $status
