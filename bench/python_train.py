#!/usr/bin/python3
"""A training loop written in Python with nabla, against `nabla train` and the
same loop in PyTorch, side by side in one run.

All sides: MLP 784-256-128-10 ReLU, Adam lr 1e-3, all 60 000 Fashion-MNIST
training images (Debian's dataset-fashion-mnist) with pixels in [0, 1], a fresh
seeded shuffle every epoch, cross-entropy from logits, no schedule, each
library's default threads (nabla: the cores; PyTorch: its OpenMP default, one
thread on the 2-core host of BENCHMARKS.md, where two threads ran 20x slower
among the other tenants' load), or --threads N for all. Epoch time covers the training loop only (the
test accuracy after each epoch is not timed); the figure is the median of
epochs 2..N. Sides:
  nabla train      the command (--validation 0 --normalize none --schedule none)
  python           for xb, yb in loader: loss = cross_entropy(model(xb), yb); zero_grad; backward; step
  python-parallel  the same loop with nabla.data_parallel_backward (the command's step: the batch
                   split by rows over the threads)
  torch            the `python` loop written with torch (bench/train_torch.py)
Each side runs in its own process; with --rounds R the sides alternate R times
and the medians over rounds are reported.

  PYTHONPATH=build/release/python /usr/bin/python3 bench/python_train.py [--nabla build/release/nabla]
      [--epochs 3] [--batch 128] [--rounds 1] [--threads N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python_side(side, epochs, batch, seed, threads):
    import nabla as nb
    nb.set_threads(threads)
    d = nb.data.load_fashion_mnist()
    train, test = d.train, d.test
    loader = nb.data.DataLoader(train, batch_size=batch, shuffle=True, seed=seed)
    model = nb.nn.mlp([784, 256, 128, 10], "relu", generator=nb.Generator(seed))
    params = model.parameters()
    opt = nb.optim.Adam(params, lr=1e-3)
    times, accs = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        total = 0.0
        if side == "python":
            for xb, yb in loader:
                loss = nb.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
        else:
            def loss_fn(x, y):
                return nb.cross_entropy(model(x), y)
            for xb, yb in loader:
                opt.zero_grad()
                total += nb.data_parallel_backward(loss_fn, xb, yb, params) * xb.shape[0]
                opt.step()
        times.append(time.perf_counter() - t0)
        with nb.no_grad():
            model.eval()
            accs.append(nb.mean(nb.eq(nb.argmax(model(test.features), 1), test.labels)).item())
            model.train()
    return times, accs


def run_torch_side(epochs, batch, seed, threads):
    """bench/train_torch.py: the `python` loop written with torch."""
    cmd = [sys.executable, os.path.join(HERE, "train_torch.py"), "--epochs", str(epochs), "--batch", str(batch),
           "--seed", str(seed), "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads([ln for ln in out.splitlines() if ln.startswith("JSON ")][-1][5:])
    return j["epoch_times"], j["test_acc"]


def run_command(nabla, epochs, batch, seed, threads):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "m.json")
        cmd = [nabla, "train", "--epochs", str(epochs), "--batch-size", str(batch), "--validation", "0",
               "--normalize", "none", "--schedule", "none", "--seed", str(seed), "--threads", str(threads), "--out", "",
               "--metrics-json", metrics]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(metrics) as f:
            m = json.load(f)
    return [e["seconds"] for e in m], [e["test_accuracy"] for e in m]




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", default=os.path.join(HERE, "..", "build", "release", "nabla"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="threads for every side (0: each one's default)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        times, accs = run_python_side(a.worker, a.epochs, a.batch, a.seed, a.threads)
        print("JSON " + json.dumps({"times": times, "accs": accs}), flush=True)
        return

    sides = ["nabla train", "python", "python-parallel", "torch"]
    results = {s: [] for s in sides}
    accs = {}
    for r in range(a.rounds):
        for s in sides:
            if s == "nabla train":
                times, acc = run_command(a.nabla, a.epochs, a.batch, a.seed, a.threads)
            elif s == "torch":
                times, acc = run_torch_side(a.epochs, a.batch, a.seed, a.threads)
            else:
                cmd = [sys.executable, __file__, "--worker", s, "--epochs", str(a.epochs), "--batch", str(a.batch),
                       "--seed", str(a.seed), "--threads", str(a.threads)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("JSON ")][-1]
                j = json.loads(line[5:])
                times, acc = j["times"], j["accs"]
            results[s].append(statistics.median(times[1:] if len(times) > 1 else times))
            accs[s] = acc[-1]
            print(f"round {r + 1}: {s:16} {results[s][-1]:.3f} s/epoch  epochs {['%.3f' % t for t in times]}  "
                  f"test acc {acc[-1]:.4f}", flush=True)
    med = {s: statistics.median(v) for s, v in results.items()}
    print(f"\nbatch {a.batch}, {a.epochs} epochs, {a.rounds} round(s); median s/epoch (epochs 2..{a.epochs})")
    for s in sides:
        print(f"  {s:16} {med[s]:.3f} s  ({60000 / med[s]:,.0f} samples/s)  vs nabla train {med[s] / med['nabla train']:.2f}x"
              f"  vs torch {med['torch'] / med[s]:.2f}x faster  test acc {accs[s]:.4f}")
    print("JSON " + json.dumps({"median": med, "rounds": results, "test_acc": accs}))


if __name__ == "__main__":
    main()
