#!/usr/bin/env bash
# nabla vs PyTorch eager on the tiny graph y = sum(tanh(W x + b)), W 16×16:
# runs bench/overhead_bench and bench/overhead_torch.py one after the other
# and prints µs per iteration and the ratio PyTorch / nabla for each variant,
# for the median and for the fastest of the repetitions.
#
#   bench/run_overhead.sh [build dir, default build/release]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build/release}
BIN="$BUILD/bench/overhead_bench"
[[ -x "$BIN" ]] || { echo "run_overhead: $BIN not built (cmake --build --preset release)" >&2; exit 1; }
PY=/usr/bin/python3  # Debian's interpreter, the one with python3-torch

nabla_out=$("$BIN" --benchmark_min_time=0.2 2>&1) || { echo "$nabla_out" >&2; exit 1; }
torch_out=$("$PY" bench/overhead_torch.py 2>&1) || { echo "$torch_out" >&2; exit 1; }
grep '^#' <<<"$torch_out" || true

# table TAG TITLE: one row per variant from the "TAG variant cpu wall" lines of both sides
table() {
  echo "$2"
  join <(grep "^$1 " <<<"$nabla_out" | awk '{print $2, $3, $4}' | sort) \
       <(grep "^$1 " <<<"$torch_out" | awk '{print $2, $3, $4}' | sort) |
    awk 'BEGIN {
           printf "%-18s %12s %12s %12s %12s %9s %9s\n", "variant", "nabla cpu", "torch cpu",
                  "nabla wall", "torch wall", "cpu x", "wall x"
           printf "%-18s %12s %12s %12s %12s %9s %9s\n", "", "(us/iter)", "(us/iter)",
                  "(us/iter)", "(us/iter)", "torch/nabla", ""
         }
         { printf "%-18s %12.2f %12.2f %12.2f %12.2f %9.1f %9.1f\n", $1, $2, $4, $3, $5, $4 / $2, $5 / $3 }'
}
table RESULT "median of the repetitions"
table RESULT_MIN "fastest repetition (other tenants of a shared host only ever add time)"
