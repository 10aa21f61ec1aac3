#!/usr/bin/env bash
# The main job: set up what the library and the command need, build them
# alone (Release: no tests, benchmarks, examples or Python module) and run
# `nabla` with no arguments. scripts/test.sh builds and installs everything.
#
#   bash scripts/main.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "main: FAILED: $*" >&2; exit 1; }

JOBS=${NABLA_JOBS:-2}

step "setup (the library and the command)"
bash scripts/setup.sh main </dev/null || fail "setup (scripts/setup.sh main)"

step "configure (preset main)"
cmake --preset main </dev/null || fail "cmake configure, preset main"

step "build the command (preset main, -j$JOBS)"
cmake --build --preset main -j"$JOBS" --target nabla_cli </dev/null || fail "build, preset main"

step "run build/main/nabla"
build/main/nabla </dev/null || fail "build/main/nabla exited with status $?"
