#!/usr/bin/env bash
# Installs what nabla needs on Debian 12 (bookworm).
#
#   bash scripts/setup.sh         # everything: build, test, benchmark (scripts/test.sh)
#   bash scripts/setup.sh main    # the library and the command, and the default data set (scripts/main.sh)
#
# Idempotent: when every package is already installed it does not touch apt at
# all. Otherwise it runs `apt-get update` once and installs the missing ones,
# non-interactively, through sudo when not run as root.
set -euo pipefail

# What the library and the command need (the main job).
MAIN_PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config
  # libraries (DESIGN.md: dependencies come from Debian packages)
  libopenblas-dev libeigen3-dev zlib1g-dev libcli11-dev nlohmann-json3-dev
  # the default data set
  dataset-fashion-mnist
)

PACKAGES=(
  "${MAIN_PACKAGES[@]}"
  # tests, fuzzing (libFuzzer comes with clang's runtime), benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # nabla's vector math against SLEEF (bench/vmath_bench, bench/vmath_accuracy)
  libsleef-dev
  # side-by-side benchmarks against PyTorch, and timing
  python3-numpy python3-torch hyperfine
  # training across processes (src/distributed/) and its mpirun tests (tests/distributed)
  libopenmpi-dev openmpi-bin
  # the Python module (python/) and its tests (tests/python)
  pybind11-dev python3-pybind11 python3-dev libdlpack-dev python3-pytest
  # nabla serve (cpp-httplib, KaTeX), its browser test, and the SymPy comparison
  libcpp-httplib-dev libjs-katex chromium python3-sympy
)

die() { echo "setup: error: $*" >&2; exit 1; }

case "${1:-all}" in
  all) ;;
  main) PACKAGES=("${MAIN_PACKAGES[@]}") ;;
  *) die "unknown set '$1' (choose all or main)" ;;
esac

[[ -r /etc/debian_version ]] || die "this script expects Debian 12 (apt-get, dpkg-query); install the packages by hand: ${PACKAGES[*]}"

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)  # -n: never prompt (no stdin in CI)
else
  die "not root and sudo is not available; run as root: apt-get install ${missing[*]}"
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null \
  || die "apt-get update failed"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "${missing[@]}" </dev/null || die "apt-get install failed for: ${missing[*]}"
echo "setup: done"
