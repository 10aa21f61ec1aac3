#!/bin/sh
# Runs bench/jacobian_bench (nabla) and bench/jacobian_torch.py (PyTorch) in one
# go, same thread count, and prints each nabla figure with its ratio to PyTorch's
# best on the same problem.
#
# Usage: bench/run_jacobian.sh [build-dir] [threads]   (default: build/release, 2)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
threads=${2:-2}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bench/jacobian_bench" --benchmark_format=json --benchmark_min_time=0.3 > "$tmp/nabla.json"
/usr/bin/python3 "$here/jacobian_torch.py" "$threads" > "$tmp/torch.txt"
/usr/bin/python3 - "$tmp/nabla.json" "$tmp/torch.txt" <<'PY'
import json, sys
nabla = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
    nabla[b["name"]] = b["real_time"] * scale
torch = {}
for line in open(sys.argv[2]):
    key, ms = line.split()
    torch[key] = float(ms)
print(f"{'case':28} {'nabla ms':>10} {'torch best ms':>14} {'torch best via':>28} {'speed-up':>9}")
for name, ms in nabla.items():
    peers = {k.rsplit('/', 1)[1]: v for k, v in torch.items() if k.rsplit('/', 1)[0] == name}
    if name.startswith("jac_tanh_ax_fwd"):
        peers = {k.rsplit('/', 1)[1]: v for k, v in torch.items() if k.rsplit('/', 1)[0] == name.replace("_fwd", "")}
    if peers:
        via, best = min(peers.items(), key=lambda kv: kv[1])
        print(f"{name:28} {ms:10.4f} {best:14.4f} {via:>28} {best / ms:8.1f}x")
    else:
        print(f"{name:28} {ms:10.4f}")
print("all torch figures:")
for k, v in torch.items():
    print(f"  {k:45} {v:10.4f} ms")
PY
