"""PyTorch's side of bench/elementwise_bench: the same ops on 10^6 float32
values, each call allocating its result, median of 7 repetitions of the best
of a timed loop. Prints "RESULT <op> <us>" per op ("memcpy" is a clone, the
same bytes read and written).

    /usr/bin/python3 bench/elementwise_torch.py [--threads N]
"""
import argparse
import statistics
import time

import torch


def time_op(f, reps=7, inner=50):
    f()  # warm-up
    per = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            f()
        per.append((time.perf_counter() - t) / inner)
    return statistics.median(per) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(1)
    n = 1_000_000
    a = torch.rand(n, generator=g) * 4 - 2
    b = torch.rand(n, generator=g) * 4 - 2
    pos = torch.rand(n, generator=g) * 3.99 + 0.01
    ops = {
        "memcpy": lambda: a.clone(),
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "relu": lambda: torch.relu(a),
        "tanh": lambda: torch.tanh(a),
        "exp": lambda: torch.exp(a),
        "sigmoid": lambda: torch.sigmoid(a),
        "log": lambda: torch.log(pos),
        "softplus": lambda: torch.nn.functional.softplus(a),
    }
    print(f"# torch {torch.__version__}, {args.threads} thread(s)")
    for name, f in ops.items():
        print(f"RESULT {name} {time_op(f):.1f}")


if __name__ == "__main__":
    main()
