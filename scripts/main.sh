#!/usr/bin/env bash
# The main job: set up, build (Release) and run `nabla` with no arguments.
#
#   bash scripts/main.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "main: FAILED: $*" >&2; exit 1; }

JOBS=${NABLA_JOBS:-2}

step "setup"
bash scripts/setup.sh </dev/null || fail "setup (scripts/setup.sh)"

step "configure (preset release)"
cmake --preset release </dev/null || fail "cmake configure, preset release"

step "build (preset release, -j$JOBS)"
cmake --build --preset release -j"$JOBS" </dev/null || fail "build, preset release"

step "run build/release/nabla"
build/release/nabla </dev/null || fail "build/release/nabla exited with status $?"
