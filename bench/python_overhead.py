#!/usr/bin/python3
"""Per-op overhead from Python: nabla's module against PyTorch eager, in one run.

y = sum(tanh(W @ x + b)), W 16x16, b and x of size 16, float32 (the graph of
bench/overhead_bench.cpp and bench/overhead_torch.py). Variants:
  forward_nograd    forward with graph recording off
  forward_backward  forward + y.backward(), W.grad = b.grad = None every iteration
  forward_grad      forward + grad(y, (W, b))
The two libraries alternate chunk by chunk, so that a change in the machine's
load hits both. Prints per-iteration medians (µs, wall and CPU time of this
thread) and torch / nabla.

  PYTHONPATH=build/release/python /usr/bin/python3 bench/python_overhead.py [iters=20000] [chunks=7]
"""
import statistics
import sys
import time

import numpy as np
import torch

import nabla as nb


def chunk(fn, iters):
    c0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - w0) / iters * 1e6, (time.thread_time() - c0) / iters * 1e6


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    chunks = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    rng = np.random.default_rng(0)
    Wv, bv, xv = (rng.standard_normal(s).astype(np.float32) for s in [(16, 16), (16,), (16,)])

    W, b, x = nb.tensor(Wv, requires_grad=True), nb.tensor(bv, requires_grad=True), nb.tensor(xv)
    tW, tb, tx = torch.tensor(Wv, requires_grad=True), torch.tensor(bv, requires_grad=True), torch.tensor(xv)

    def nb_forward():
        return nb.sum(nb.tanh(W @ x + b))

    def nb_nograd():
        with nb.no_grad():
            nb_forward()

    def nb_backward():
        W.grad = None
        b.grad = None
        nb_forward().backward()

    def nb_grad():
        nb.grad(nb_forward(), (W, b))

    def t_forward():
        return torch.sum(torch.tanh(tW @ tx + tb))

    def t_nograd():
        with torch.no_grad():
            t_forward()

    def t_backward():
        tW.grad = None
        tb.grad = None
        t_forward().backward()

    def t_grad():
        torch.autograd.grad(t_forward(), (tW, tb))

    # the same gradients first
    nb_backward()
    t_backward()
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-6)

    print(f"# nabla {nb.__version__} (Python module), torch {torch.__version__} (threads {torch.get_num_threads()}); "
          f"{chunks} alternated chunks x {iters} iterations; µs per iteration, medians")
    print(f"{'variant':18} {'nabla wall':>10} {'torch wall':>10} {'ratio':>7} {'nabla cpu':>10} {'torch cpu':>10} {'ratio':>7}")
    for name, fn_nb, fn_t in [("forward_nograd", nb_nograd, t_nograd), ("forward_backward", nb_backward, t_backward),
                              ("forward_grad", nb_grad, t_grad)]:
        for _ in range(500):
            fn_nb()
            fn_t()
        rn, rt = [], []
        for _ in range(chunks):
            rn.append(chunk(fn_nb, iters))
            rt.append(chunk(fn_t, iters))
        nw, nc = statistics.median(r[0] for r in rn), statistics.median(r[1] for r in rn)
        tw, tc = statistics.median(r[0] for r in rt), statistics.median(r[1] for r in rt)
        print(f"{name:18} {nw:10.2f} {tw:10.2f} {tw / nw:6.1f}x {nc:10.2f} {tc:10.2f} {tc / nc:6.1f}x", flush=True)
        print(f"RESULT {name} nabla_wall={nw:.3f} torch_wall={tw:.3f} ratio={tw / nw:.2f}", flush=True)


if __name__ == "__main__":
    main()
