#!/usr/bin/python3
"""Data parallelism on one machine: `nabla train` with 1 process (1 and 2
threads) and `mpirun -np 2` (1 thread a rank), against PyTorch with 1 process
(1 thread) and DistributedDataParallel over Gloo with 2 processes
(bench/ddp_gloo.py), on the same work: MLP 784-256-128-10, Adam, Fashion-MNIST,
global batch 128. The configurations run alternately, --rounds times; each
figure is the median over rounds of the last epoch's training throughput.

  /usr/bin/python3 bench/distributed_compare.py [--nabla build/rel/nabla] [--rounds 3] [--epochs 2]

Prints a Markdown table, and the allreduce's bytes and time per step.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def mpirun(np_):
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def run_nabla(a, ranks, threads, tmp):
    metrics = os.path.join(tmp, "m.json")
    cmd = ([] if ranks == 1 else mpirun(ranks)) + [a.nabla, "train", "--epochs", str(a.epochs), "--batch-size",
                                                    str(a.batch), "--out", "", "--metrics-json", metrics]
    if ranks == 1:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = json.load(open(metrics))
    ar = re.search(r"allreduce over \d+ ranks: \d+ steps, ([\d.]+) MB a step, ([\d.]+) ms a step", out)
    return m[-1]["samples_per_second"], m[-1]["test_accuracy"], (float(ar.group(1)), float(ar.group(2))) if ar else None


def run_torch(a, ranks, threads):
    cmd = ["/usr/bin/python3", os.path.join(HERE, "ddp_gloo.py"), "--ranks", str(ranks), "--threads", str(threads),
           "--epochs", str(a.epochs), "--batch", str(a.batch)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out.split("JSON ", 1)[1])
    return j["samples_per_s"], j["allreduce_ms"], j["allreduce_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", default=os.path.join(HERE, "..", "build", "rel", "nabla"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    a = ap.parse_args()
    # (PyTorch with 2 threads in one process is left out: on a loaded 2-core
    # machine its OpenMP threads spin against the other tenants, 0.5k samples/s)
    configs = [("nabla", 1, 1), ("nabla", 1, 2), ("nabla", 2, 1), ("torch", 1, 1), ("torch", 2, 1)]
    rates = {c: [] for c in configs}
    extra = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for c in configs:
                if c[0] == "nabla":
                    rate, acc, ar = run_nabla(a, c[1], c[2], tmp)
                    if ar:
                        extra[c].append(ar)
                else:
                    rate, ar_ms, ar_bytes = run_torch(a, c[1], c[2])
                    if c[1] > 1:
                        extra[c].append((ar_bytes / 1e6, ar_ms))
                rates[c].append(rate)
                print(f"round {r + 1}: {c[0]} {c[1]} process(es) x {c[2]} thread(s): {rate / 1000:.1f}k samples/s",
                      file=sys.stderr, flush=True)
    base = statistics.median(rates[("nabla", 1, 1)])
    print("| run | processes x threads | samples/s (median) | vs nabla 1x1 |")
    print("| --- | --- | --- | --- |")
    for c in configs:
        med = statistics.median(rates[c])
        print(f"| {'nabla train' if c[0] == 'nabla' else 'PyTorch' + (' DDP/Gloo' if c[1] > 1 else '')} | "
              f"{c[1]} x {c[2]} | {med / 1000:.1f}k | {med / base:.2f} |")
    for c in configs:
        if extra[c]:
            mb = statistics.median(e[0] for e in extra[c])
            ms = statistics.median(e[1] for e in extra[c])
            print(f"{c[0]} {c[1]} ranks: allreduce {mb:.3f} MB a step, {ms:.3f} ms a step (median over rounds)")


if __name__ == "__main__":
    main()
