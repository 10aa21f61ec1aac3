#!/usr/bin/python3
"""A model of data-parallel scaling across machines, from measured figures:
the compute time of one step at the per-rank batch (one process, one
machine), the gradients' bytes, and the fixed cost of one allreduce on one
machine (packing, unpacking, MPI's own work: nabla's "allreduce ... ms a
step" on two local ranks, where the bytes move through shared memory). Over a
network the gradients travel as in a ring allreduce (Horovod's, NCCL's, and
Open MPI's for large buffers): each rank sends and receives 2(K-1)/K of the
bytes, in 2(K-1) messages, so

    T_allreduce(K) = overhead + 2(K-1)/K * bytes / bandwidth + 2(K-1) * latency
    efficiency     = N * T_step / (N * T_step + T_allreduce)

with N batches per allreduce (--accumulate N; N = 1 without). nabla does not
overlap the allreduce with the backward pass, so this is also its efficiency.

  /usr/bin/python3 bench/distributed_model.py --step-ms 2.2 --bytes 940592 --overhead-ms 0.4
"""
import argparse
import math

LINKS = [("1 Gb/s Ethernet", 1e9, 50e-6), ("10 Gb/s Ethernet", 10e9, 20e-6), ("100 Gb/s InfiniBand", 100e9, 3e-6)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step-ms", type=float, required=True, help="compute time of one step at the per-rank batch")
    ap.add_argument("--bytes", type=float, required=True, help="bytes of one allreduce")
    ap.add_argument("--overhead-ms", type=float, required=True, help="one local allreduce's time")
    ap.add_argument("--machines", default="2,8,64")
    ap.add_argument("--target", type=float, default=0.9, help="efficiency that --accumulate N should reach")
    a = ap.parse_args()
    t = a.step_ms * 1e-3
    ks = [int(k) for k in a.machines.split(",")]
    print("| link (latency per message) | " + " | ".join(f"{k} machines" for k in ks) +
          f" | N for {a.target:.0%} at {ks[-1]} |")
    print("| --- | " + " | ".join("---" for _ in ks) + " | --- |")
    for name, bw, lat in LINKS:
        cells = []
        for k in ks:
            ar = a.overhead_ms * 1e-3 + 2 * (k - 1) / k * a.bytes * 8 / bw + 2 * (k - 1) * lat
            cells.append(f"{t / (t + ar):.0%} ({1e3 * ar:.2f} ms)")
        k = ks[-1]
        ar = a.overhead_ms * 1e-3 + 2 * (k - 1) / k * a.bytes * 8 / bw + 2 * (k - 1) * lat
        n = max(1, math.ceil(a.target / (1 - a.target) * ar / t))
        print(f"| {name} ({lat * 1e6:g} µs) | " + " | ".join(cells) + f" | {n} |")


if __name__ == "__main__":
    main()
