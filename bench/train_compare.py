#!/usr/bin/python3
"""Training throughput, nabla vs PyTorch, side by side in one run.

  /usr/bin/python3 bench/train_compare.py [--nabla build/release/nabla] [--epochs 3] [--batches 32,128,1024]
                                          [--threads N] [--stat median|min] [--rounds R]

For each batch size it runs `nabla train` (784-256-128-10 ReLU, Adam lr 1e-3,
all 60000 training samples, pixels in [0, 1], no schedule — the same work as
the PyTorch script) and bench/train_torch.py, alternating, and reports the
median (or, with --stat min, the fastest) epoch time over epochs 2..N,
samples/s, their ratio, the test accuracy after the last epoch and each
process's peak resident memory. With --rounds R it alternates the two R times
per batch size and reports the median of each side's R epoch times and the
range of the R per-round speed-ups: on a shared host one run of either side
can land in a burst of other tenants' work.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out}")
    return out, usage.ru_maxrss / 1024.0  # MiB


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", default=os.path.join(HERE, "..", "build", "release", "nabla"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches", default="32,128,1024")
    ap.add_argument("--threads", type=int, default=0, help="threads for both (0: each one's default)")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="epoch time over epochs 2..N on both sides: the median, or the fastest epoch "
                         "(less sensitive to other tenants of a shared host)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate nabla and PyTorch this many times per batch size and report the median "
                         "of each side's epoch times, with the range of the per-round speed-ups")
    a = ap.parse_args()

    def stat(times):
        return median(times) if a.stat == "median" else min(times)

    def run_nabla(b):
        with tempfile.TemporaryDirectory() as tmp:
            metrics = os.path.join(tmp, "m.json")
            cmd = [a.nabla, "train", "--epochs", str(a.epochs), "--batch-size", str(b), "--validation", "0",
                   "--normalize", "none", "--schedule", "none", "--out", "", "--metrics-json", metrics]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            _, mem = run(cmd)
            m = json.load(open(metrics))
        times = [e["seconds"] for e in m[1:]] if len(m) > 1 else [m[0]["seconds"]]
        return stat(times), m[-1]["test_accuracy"], mem

    def run_torch(b):
        cmd = ["/usr/bin/python3", os.path.join(HERE, "train_torch.py"), "--epochs", str(a.epochs), "--batch", str(b)]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        out, mem = run(cmd)
        t = json.loads([l for l in out.splitlines() if l.startswith("JSON ")][-1][5:])
        times = t["epoch_times"][1:] if len(t["epoch_times"]) > 1 else t["epoch_times"]
        return stat(times), t["test_acc"][-1], mem

    print(f"{'batch':>6} {'nabla s/epoch':>14} {'torch s/epoch':>14} {'nabla samples/s':>16} {'torch samples/s':>16} "
          f"{'speed-up':>9} {'nabla acc':>10} {'torch acc':>10} {'nabla MiB':>10} {'torch MiB':>10}"
          + (f" {'per round':>13}" if a.rounds > 1 else ""))
    results = []
    for b in [int(x) for x in a.batches.split(",")]:
        ns, ts = [], []
        for _ in range(max(1, a.rounds)):
            ns.append(run_nabla(b))
            ts.append(run_torch(b))
        n_epoch, t_epoch = median([x[0] for x in ns]), median([x[0] for x in ts])
        ratios = [t[0] / n[0] for n, t in zip(ns, ts)]
        r = dict(batch=b, nabla_epoch_s=n_epoch, torch_epoch_s=t_epoch, speedup=t_epoch / n_epoch,
                 nabla_acc=ns[-1][1], torch_acc=ts[-1][1], nabla_mib=max(x[2] for x in ns),
                 torch_mib=max(x[2] for x in ts), round_speedups=ratios)
        results.append(r)
        print(f"{b:>6} {n_epoch:>14.3f} {t_epoch:>14.3f} {60000 / n_epoch:>16.0f} {60000 / t_epoch:>16.0f} "
              f"{r['speedup']:>8.2f}x {r['nabla_acc']:>10.4f} {r['torch_acc']:>10.4f} {r['nabla_mib']:>10.0f} "
              f"{r['torch_mib']:>10.0f}" + (f" {min(ratios):>5.2f}-{max(ratios):.2f}x" if a.rounds > 1 else ""),
              flush=True)
    print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
