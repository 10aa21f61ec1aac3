"""PyTorch side of bench/jacobian_bench.cpp, float32, same problems.

Usage: /usr/bin/python3 bench/jacobian_torch.py [threads]
Prints one line per case: "name milliseconds" (median of repeated runs).
"""
import math
import statistics
import sys
import time

import torch

try:
    import functorch
except ImportError:  # older or newer layouts
    functorch = None

if len(sys.argv) > 1:
    torch.set_num_threads(int(sys.argv[1]))


def timed(fn, min_time=0.5):
    fn()
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(samples) < 5:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e3


def problem(n):
    g = torch.Generator().manual_seed(7)
    a = torch.randn(n, n, generator=g) / math.sqrt(n)
    x = torch.randn(n, generator=g)
    return a, x


F = torch.autograd.functional
for n in (100, 1000):
    a, x = problem(n)
    f = lambda t: torch.tanh(a @ t)
    print(f"jac_tanh_ax/{n}/torch_jacobian {timed(lambda: F.jacobian(f, x), 0.3 if n == 100 else 1.0):.4f}")
    print(f"jac_tanh_ax/{n}/torch_jacobian_vectorize {timed(lambda: F.jacobian(f, x, vectorize=True)):.4f}")
    if functorch is not None:
        jr = functorch.jacrev(f)
        jf = functorch.jacfwd(f)
        print(f"jac_tanh_ax/{n}/functorch_jacrev {timed(lambda: jr(x)):.4f}")
        print(f"jac_tanh_ax/{n}/functorch_jacfwd {timed(lambda: jf(x)):.4f}")

    def hand():
        y = torch.tanh(a @ x)
        return (1 - y * y).unsqueeze(1) * a

    print(f"jac_tanh_ax_hand/{n}/torch {timed(hand):.4f}")

x = torch.randn(1000000, generator=torch.Generator().manual_seed(7))
if functorch is not None:
    d = lambda: functorch.jvp(torch.tanh, (x,), (torch.ones_like(x),))[1]
    print(f"jac_diag_tanh/1000000/functorch_jvp {timed(d):.4f}")
print(f"forward_tanh/1000000/torch {timed(lambda: torch.tanh(x)):.4f}")

a, x = problem(500)
quad = lambda t: t @ (a @ t)
sum_tanh = lambda t: torch.tanh(a @ t).sum()
for name, f in (("hess_quad", quad), ("hess_sum_tanh", sum_tanh)):
    print(f"{name}/500/torch_hessian {timed(lambda: F.hessian(f, x), 1.0):.4f}")
    print(f"{name}/500/torch_hessian_vectorize {timed(lambda: F.hessian(f, x, vectorize=True)):.4f}")
    if functorch is not None:
        h = functorch.hessian(f)
        print(f"{name}/500/functorch_hessian {timed(lambda: h(x)):.4f}")
