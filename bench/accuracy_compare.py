#!/usr/bin/python3
"""Test accuracy after the same epochs, nabla vs PyTorch, over several seeds.

  /usr/bin/python3 bench/accuracy_compare.py [--nabla build/release/nabla] [--epochs 4]
                                             [--batches 32,128,1024] [--seeds 0,1,2,3,4]

The same work as bench/train_compare.py (784-256-128-10 ReLU, Adam lr 1e-3,
pixels in [0, 1], no schedule, no validation split), run once per seed on each
side. Both sides initialize as nn.Linear does, from different random streams,
so one seed per side cannot tell a real difference from seed noise; this
reports each side's mean, standard deviation and range of the final test
accuracy, and the difference of the means.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}")
    return p.stdout


def nabla_acc(nabla, epochs, batch, seed):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "m.json")
        run([nabla, "train", "--epochs", str(epochs), "--batch-size", str(batch), "--validation", "0",
             "--normalize", "none", "--schedule", "none", "--seed", str(seed), "--out", "",
             "--metrics-json", metrics])
        return json.load(open(metrics))[-1]["test_accuracy"]


def torch_acc(epochs, batch, seed):
    out = run(["/usr/bin/python3", os.path.join(HERE, "train_torch.py"), "--epochs", str(epochs), "--batch",
               str(batch), "--seed", str(seed)])
    return json.loads([l for l in out.splitlines() if l.startswith("JSON ")][-1][5:])["test_acc"][-1]


def summary(xs):
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", default=os.path.join(HERE, "..", "build", "release", "nabla"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batches", default="32,128,1024")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    print(f"{'batch':>6} {'side':>6} {'mean':>8} {'sd':>7} {'min':>7} {'max':>7}   per seed", flush=True)
    results = []
    for b in [int(x) for x in a.batches.split(",")]:
        accs = {"nabla": [], "torch": []}
        for s in seeds:
            accs["nabla"].append(nabla_acc(a.nabla, a.epochs, b, s))
            accs["torch"].append(torch_acc(a.epochs, b, s))
        for side in ("nabla", "torch"):
            m, sd, lo, hi = summary(accs[side])
            print(f"{b:>6} {side:>6} {m:>8.4f} {sd:>7.4f} {lo:>7.4f} {hi:>7.4f}   "
                  + " ".join(f"{x:.4f}" for x in accs[side]), flush=True)
        diff = statistics.mean(accs["nabla"]) - statistics.mean(accs["torch"])
        print(f"{b:>6} {'diff':>6} {diff:>+8.4f}  (nabla mean - torch mean)", flush=True)
        results.append(dict(batch=b, seeds=seeds, nabla=accs["nabla"], torch=accs["torch"], diff=diff))
    print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
