#!/usr/bin/env bash
# Long fuzzing runs of the libFuzzer targets of tests/fuzz (the ctest
# `fuzz.<name>.timed` tests run each for NABLA_FUZZ_SECONDS only).
#
#   bash scripts/fuzz.sh [-t SECONDS] [-j JOBS] [-b BUILD_DIR] [TARGET ...]
#
#   -t SECONDS    how long each target runs (default 600)
#   -j JOBS       targets run at the same time (default 1)
#   -b BUILD_DIR  build tree (default build/fuzz: Release, configured here if
#                 needed); the <name>_libfuzzer binaries need clang++
#   TARGET        e.g. idx_fuzz csv_fuzz (default: every target)
#
# Each target starts from its checked-in corpus (tests/fuzz/corpus/<name>)
# and a corpus of its own under BUILD_DIR/fuzz-corpus/<name> that grows from
# run to run; a crash, leak, timeout (10 s) or an input needing more than
# 2 GB is written to BUILD_DIR/fuzz-artifacts/<name>/ and makes the script
# exit non-zero. Logs: BUILD_DIR/fuzz-logs/<name>.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_EACH=600 JOBS=1 BUILD=build/fuzz
while getopts "t:j:b:h" opt; do
  case $opt in
    t) SECONDS_EACH=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    b) BUILD=$OPTARG ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
ALL=(sym_parse_fuzz sym_values_fuzz sym_property_fuzz idx_fuzz csv_fuzz safetensors_fuzz checkpoint_fuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")

command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed for the libFuzzer binaries" >&2; exit 2; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNABLA_BUILD_TESTS=ON -DNABLA_BUILD_BENCH=OFF \
    -DNABLA_BUILD_EXAMPLES=OFF </dev/null
fi
cmake --build "$BUILD" -j"${NABLA_JOBS:-2}" --target "${TARGETS[@]/%/_libfuzzer_build}" </dev/null

mkdir -p "$BUILD/fuzz-logs"
run_one() {
  local name=$1 corpus="$BUILD/fuzz-corpus/$1" artifacts="$BUILD/fuzz-artifacts/$1"
  local max_len=4096
  case $name in sym_*) max_len=2048 ;; esac
  mkdir -p "$corpus" "$artifacts"
  if "$BUILD/tests/fuzz/${name}_libfuzzer" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -max_len=$max_len -artifact_prefix="$artifacts/" -print_final_stats=1 \
      "$corpus" "tests/fuzz/corpus/$name" >"$BUILD/fuzz-logs/$name.log" 2>&1; then
    echo "fuzz: $name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$BUILD/fuzz-logs/$name.log" | tail -1), nothing found"
  else
    echo "fuzz: $name: FAILED, see $BUILD/fuzz-logs/$name.log and $artifacts/" >&2
    return 1
  fi
}

status=0
pids=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
