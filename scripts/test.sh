#!/usr/bin/env bash
# The test job: set up; Release build + all tests; AddressSanitizer and
# UndefinedBehaviorSanitizer build + all tests. Stops at the first failure.
#
#   bash scripts/test.sh
#
# Fuzz targets under tests/fuzz are ctest tests too (they replay their corpus
# and a bounded number of generated inputs), so they run in both trees.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS=${NABLA_JOBS:-2}
T0=$SECONDS
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { echo "test: FAILED: $* (after $((SECONDS - T0)) s)" >&2; exit 1; }

step "setup"
bash scripts/setup.sh </dev/null || fail "setup (scripts/setup.sh)"

step "configure (preset release)"
cmake --preset release </dev/null || fail "cmake configure, preset release"
step "build (preset release, -j$JOBS)"
cmake --build --preset release -j"$JOBS" </dev/null || fail "build, preset release"
step "ctest (preset release)"
ctest --preset release -j"$JOBS" </dev/null || fail "tests, preset release"

step "configure (preset asan: ASan + UBSan)"
cmake --preset asan </dev/null || fail "cmake configure, preset asan"
step "build (preset asan, -j$JOBS)"
cmake --build --preset asan -j"$JOBS" </dev/null || fail "build, preset asan"
step "ctest (preset asan)"
ctest --preset asan -j"$JOBS" </dev/null || fail "tests, preset asan"

step "all tests passed"
