#!/usr/bin/python3
"""PyTorch eager on the tiny graph of bench/overhead_bench.cpp, for the side-by-side run.

y = sum(tanh(W x + b)), W 16x16, b and x of size 16, float32. Variants (same names as the C++ side):
  forward_nograd    forward under torch.no_grad()
  forward_record    forward with W, b requiring grad (graph built, unused)
  forward_backward  forward + y.backward(), W.grad = b.grad = None every iteration
  forward_grad      forward + torch.autograd.grad(y, (W, b))
Each variant: warm-up, then `reps` chunks of `iters` iterations; prints
"RESULT <variant> <cpu us> <wall us>" per iteration, the medians over chunks (CPU time of this
thread, and wall time), and "RESULT_MIN ..." with the fastest chunk.

Run with Debian's interpreter: /usr/bin/python3 bench/overhead_torch.py [iters=20000] [reps=5]
"""
import statistics
import sys
import time

import torch


def measure(fn, iters, reps):
    for _ in range(500):
        fn()
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(iters):
            fn()
        cpu.append((time.thread_time() - c0) / iters * 1e6)
        wall.append((time.perf_counter() - w0) / iters * 1e6)
    return statistics.median(cpu), statistics.median(wall), min(cpu), min(wall)


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.manual_seed(0)
    W = torch.randn(16, 16, requires_grad=True)
    b = torch.randn(16, requires_grad=True)
    x = torch.randn(16)

    def forward():
        return torch.tanh(W @ x + b).sum()

    def forward_nograd():
        with torch.no_grad():
            forward()

    def forward_backward():
        W.grad = None
        b.grad = None
        forward().backward()

    def forward_grad():
        torch.autograd.grad(forward(), (W, b))

    forward_backward()  # the gradients against their closed form
    with torch.no_grad():
        h = torch.tanh(W @ x + b)
        assert torch.allclose(b.grad, 1 - h * h, atol=1e-5)
        assert torch.allclose(W.grad, torch.outer(1 - h * h, x), atol=1e-5)

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{reps} chunks x {iters} iterations")
    for name, fn in [("forward_nograd", forward_nograd), ("forward_record", forward),
                     ("forward_backward", forward_backward), ("forward_grad", forward_grad)]:
        cpu, wall, cpu_min, wall_min = measure(fn, iters, reps)
        print(f"RESULT {name} {cpu:.3f} {wall:.3f}", flush=True)
        print(f"RESULT_MIN {name} {cpu_min:.3f} {wall_min:.3f}", flush=True)


if __name__ == "__main__":
    main()
