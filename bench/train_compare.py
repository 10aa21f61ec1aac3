#!/usr/bin/python3
"""Training throughput, nabla vs PyTorch, side by side in one run.

  /usr/bin/python3 bench/train_compare.py [--nabla build/release/nabla] [--epochs 3] [--batches 32,128,1024]
                                          [--threads N] [--stat median|min]

For each batch size it runs `nabla train` (784-256-128-10 ReLU, Adam lr 1e-3,
all 60000 training samples, pixels in [0, 1], no schedule — the same work as
the PyTorch script) and bench/train_torch.py, alternating, and reports the
median (or, with --stat min, the fastest) epoch time over epochs 2..N,
samples/s, their ratio, the test accuracy after the last epoch and each
process's peak resident memory.
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
    a = ap.parse_args()
    print(f"{'batch':>6} {'nabla s/epoch':>14} {'torch s/epoch':>14} {'nabla samples/s':>16} {'torch samples/s':>16} "
          f"{'speed-up':>9} {'nabla acc':>10} {'torch acc':>10} {'nabla MiB':>10} {'torch MiB':>10}")
    results = []
    for b in [int(x) for x in a.batches.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            metrics = os.path.join(tmp, "m.json")
            cmd = [a.nabla, "train", "--epochs", str(a.epochs), "--batch-size", str(b), "--validation", "0",
                   "--normalize", "none", "--schedule", "none", "--out", "", "--metrics-json", metrics]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            _, nabla_mem = run(cmd)
            m = json.load(open(metrics))
            n_times = [e["seconds"] for e in m[1:]] if len(m) > 1 else [m[0]["seconds"]]
            n_epoch = median(n_times) if a.stat == "median" else min(n_times)
            n_acc = m[-1]["test_accuracy"]
        tcmd = ["/usr/bin/python3", os.path.join(HERE, "train_torch.py"), "--epochs", str(a.epochs), "--batch", str(b)]
        if a.threads:
            tcmd += ["--threads", str(a.threads)]
        out, torch_mem = run(tcmd)
        t = json.loads([l for l in out.splitlines() if l.startswith("JSON ")][-1][5:])
        if a.stat == "min":
            t["epoch_s"] = min(t["epoch_times"][1:] if len(t["epoch_times"]) > 1 else t["epoch_times"])
        r = dict(batch=b, nabla_epoch_s=n_epoch, torch_epoch_s=t["epoch_s"], speedup=t["epoch_s"] / n_epoch,
                 nabla_acc=n_acc, torch_acc=t["test_acc"][-1], nabla_mib=nabla_mem, torch_mib=torch_mem)
        results.append(r)
        print(f"{b:>6} {n_epoch:>14.3f} {t['epoch_s']:>14.3f} {60000 / n_epoch:>16.0f} {60000 / t['epoch_s']:>16.0f} "
              f"{r['speedup']:>8.2f}x {n_acc:>10.4f} {r['torch_acc']:>10.4f} {nabla_mem:>10.0f} {torch_mem:>10.0f}",
              flush=True)
    print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
