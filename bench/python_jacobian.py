#!/usr/bin/python3
"""Jacobians and Hessians from Python: nabla's transforms against torch.func
(functorch in PyTorch 1.13) on the same functions, in one run, float32.

Cases (the problems of bench/jacobian_bench.cpp):
  jacobian tanh(A x), n = m = 100 and 1000   nabla.jacobian (auto)  vs jacrev and jacfwd
  hessian  sum(tanh(A x)), n = 500           nabla.hessian          vs hessian (jacfwd of jacrev)
  hessian  x'A x, n = 500                    nabla.hessian          vs hessian
The values agree (checked first); the times are medians of repeated calls
(at least 0.5 s of them), the two libraries alternating case by case.

  PYTHONPATH=build/release/python /usr/bin/python3 bench/python_jacobian.py [threads (default: the cores)]
"""
import math
import os
import statistics
import sys
import timeit

import numpy as np
import torch

try:
    import torch.func as tf
    tf.jacrev  # noqa: B018
except (ImportError, AttributeError):
    import functorch as tf

import nabla as nb

# The same threads for both: PyTorch's OpenMP default here is 1 thread, nabla's the machine's cores.
THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else os.cpu_count()
torch.set_num_threads(THREADS)
nb.set_threads(THREADS)


def timed(fn, min_time=0.5):
    """Median milliseconds per call, over at least min_time seconds of calls."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # calls per sample: at least 0.2 s of them
    number = max(1, number // 4)
    samples = timer.repeat(repeat=max(5, int(min_time / 0.05)), number=number)
    return statistics.median(samples) / number * 1e3


def problem(n):
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((n, n)) / math.sqrt(n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    return a, x


def main():
    print(f"# nabla {nb.__version__}, torch {torch.__version__} ({tf.__name__}), threads {THREADS} each")
    print(f"{'case':34} {'nabla ms':>10} {'torch ms':>10} {'torch via':>10} {'speed-up':>9}")
    rows = []
    for n in (100, 1000):
        a, x = problem(n)
        A, X = nb.from_numpy(a), nb.from_numpy(x)
        tA, tX = torch.from_numpy(a), torch.from_numpy(x)

        def fn(v):
            return nb.tanh(A @ v)

        def ft(v):
            return torch.tanh(tA @ v)

        J = nb.jacobian(fn, X)
        np.testing.assert_allclose(J.numpy(), tf.jacrev(ft)(tX).numpy(), rtol=1e-4, atol=1e-5)
        t_nb = timed(lambda: nb.jacobian(fn, X))
        t_rev = timed(lambda: tf.jacrev(ft)(tX))
        t_fwd = timed(lambda: tf.jacfwd(ft)(tX))
        best, via = (t_rev, "jacrev") if t_rev <= t_fwd else (t_fwd, "jacfwd")
        rows.append((f"jacobian tanh(Ax), n = {n}", t_nb, best, via))

    n = 500
    a, x = problem(n)
    A, X = nb.from_numpy(a), nb.from_numpy(x)
    tA, tX = torch.from_numpy(a), torch.from_numpy(x)
    for name, fn, ft in [
        ("hessian sum(tanh(Ax)), n = 500", lambda v: nb.sum(nb.tanh(A @ v)), lambda v: torch.sum(torch.tanh(tA @ v))),
        ("hessian x'Ax, n = 500", lambda v: nb.dot(v, A @ v), lambda v: torch.dot(v, tA @ v)),
    ]:
        H = nb.hessian(fn, X)
        np.testing.assert_allclose(H.numpy(), tf.hessian(ft)(tX).numpy(), rtol=1e-3, atol=1e-4)
        rows.append((name, timed(lambda: nb.hessian(fn, X)), timed(lambda: tf.hessian(ft)(tX)), "hessian"))

    for name, t_nb, t_t, via in rows:
        print(f"{name:34} {t_nb:10.3f} {t_t:10.3f} {via:>10} {t_t / t_nb:8.1f}x", flush=True)


if __name__ == "__main__":
    main()
