#!/usr/bin/env bash
# nabla vs PyTorch on element-wise ops over 10^6 float32 values, one run:
# bench/elementwise_bench and bench/elementwise_torch.py with the same thread
# count (default 1; nabla splits runs of 2^17 elements or more over its
# threads, PyTorch over its intra-op threads). Prints µs per call (wall time),
# each side's percentage of its own copy of the same bytes (nabla: std::memcpy
# in one thread; PyTorch: clone() on its threads), and the ratio PyTorch time /
# nabla time.
#
#   bench/run_elementwise.sh [build dir, default build/release] [threads, default 1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build/release}
THREADS=${2:-1}
BIN="$BUILD/bench/elementwise_bench"
[[ -x "$BIN" ]] || { echo "run_elementwise: $BIN not built (cmake --build --preset release)" >&2; exit 1; }
PY=/usr/bin/python3  # Debian's interpreter, the one with python3-torch

nabla_out=$("$BIN" --threads="$THREADS" 2>&1) || { echo "$nabla_out" >&2; exit 1; }
torch_out=$("$PY" bench/elementwise_torch.py --threads "$THREADS" 2>&1) || { echo "$torch_out" >&2; exit 1; }
grep '^#' <<<"$torch_out" || true

join <(grep '^RESULT' <<<"$nabla_out" | awk '{print $2, $3}' | sort) \
     <(grep '^RESULT' <<<"$torch_out" | awk '{print $2, $3}' | sort) |
  awk '{ n[$1] = $2; t[$1] = $3; ops[++k] = $1 }
       END {
         printf "%-9s %10s %10s %10s %10s %12s\n", "op", "nabla us", "torch us", "nabla %cp", "torch %cp", "torch/nabla"
         order = "memcpy add mul relu tanh exp sigmoid log softplus"
         m = split(order, o, " ")
         for (i = 1; i <= m; ++i) {
           op = o[i]
           if (!(op in n)) continue
           bytes = (op == "add" || op == "mul") ? 1.5 : 1.0
           printf "%-9s %10.1f %10.1f %9.0f%% %9.0f%% %12.2f\n", op, n[op], t[op],
                  100 * bytes * n["memcpy"] / n[op], 100 * bytes * t["memcpy"] / t[op], t[op] / n[op]
         }
       }'
