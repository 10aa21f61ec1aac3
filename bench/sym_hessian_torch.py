"""PyTorch side of bench/sym_bench.cpp: the Hessians of x'Ax and ||Ax - b||^2
at n = 1000 by torch.autograd.functional.hessian, float64, same threads.

Usage: python3 bench/sym_hessian_torch.py [threads]
Prints one line per case: name, milliseconds (best of 3).
"""
import sys
import time

import torch

n = 1000
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())
g = torch.Generator().manual_seed(7)
A = torch.rand(n, n, generator=g, dtype=torch.float64) + n * torch.eye(n, dtype=torch.float64)
b = torch.rand(n, generator=g, dtype=torch.float64)
x0 = torch.rand(n, generator=g, dtype=torch.float64)

cases = {
    "quadratic_n1000": lambda x: x @ A @ x,
    "least_squares_n1000": lambda x: torch.sum((A @ x - b) ** 2),
}
for name, f in cases.items():
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        H = torch.autograd.functional.hessian(f, x0)
        best = min(best, time.perf_counter() - t)
    print(f"torch_hessian/{name}: {best * 1e3:.1f} ms")
