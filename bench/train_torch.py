#!/usr/bin/python3
"""PyTorch side of the training comparison: MLP 784-256-128-10 (ReLU), Adam, on
Fashion-MNIST from Debian's dataset-fashion-mnist, pixels scaled to [0, 1],
a fresh torch.randperm shuffle each epoch, F.cross_entropy. Epoch time covers
the training loop only; test accuracy is measured after each epoch, untimed.

  /usr/bin/python3 bench/train_torch.py --epochs 3 --batch 128 [--threads N] [--lr 1e-3] [--seed S]

Prints one line per epoch and a final line "JSON {...}".
"""
import argparse
import gzip
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def load(split):
    with gzip.open(f"{DATA}/{split}-images-idx3-ubyte.gz", "rb") as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{DATA}/{split}-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n = xtr.shape[0]
    times, accs = [], []
    for ep in range(1, a.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        times.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            accs.append((model(xte).argmax(1) == yte).float().mean().item())
        print(f"epoch {ep}  {times[-1]:.3f} s  loss {total / n:.4f}  test acc {accs[-1]:.4f}", flush=True)
    med = statistics.median(times[1:] if len(times) > 1 else times)
    print("JSON " + json.dumps(dict(epoch_s=med, samples_per_s=n / med, test_acc=accs, epoch_times=times,
                                    threads=torch.get_num_threads())), flush=True)


if __name__ == "__main__":
    main()
