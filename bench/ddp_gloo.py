#!/usr/bin/python3
"""PyTorch DistributedDataParallel over Gloo, the peer of `mpirun -np K nabla
train`: MLP 784-256-128-10 (ReLU), Adam lr 1e-3, Fashion-MNIST (Debian's
dataset-fashion-mnist, pixels scaled to [0, 1]), a global batch split over the
ranks as nabla splits it (rank r of K takes rows B*r/K .. B*(r+1)/K of every
batch of one shuffled order), one thread per rank. Epoch time covers the
training loop only. Also times Gloo's allreduce of the model's gradients
alone (235 146 floats, the median of 200 calls), the figure beside nabla's "allreduce ... ms a step".

  /usr/bin/python3 bench/ddp_gloo.py --ranks 2 --epochs 2 --batch 128 [--threads 1]

Prints a final line "JSON {...}" (rank 0).
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

from train_torch import load  # the same data, read the same way


def worker(rank, a):
    torch.set_num_threads(a.threads)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(a.port))
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train")
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    ddp = nn.parallel.DistributedDataParallel(model) if a.ranks > 1 else model
    opt = torch.optim.Adam(ddp.parameters(), lr=a.lr)
    n, B, K = xtr.shape[0], a.batch, a.ranks
    times = []
    for ep in range(a.epochs):
        g = torch.Generator().manual_seed(a.seed + ep)
        perm = torch.randperm(n, generator=g)  # the same order on every rank
        dist.barrier()
        t0 = time.perf_counter()
        steps = 0
        for i in range(0, n, B):
            idx = perm[i:i + B]
            b = idx.shape[0]
            mine = idx[b * rank // K:b * (rank + 1) // K]
            # the rank's share of the global mean: DDP averages over ranks, so
            # weight by K * rows / B to sum to the global batch's mean
            loss = F.cross_entropy(ddp(xtr[mine]), ytr[mine]) * (K * mine.shape[0] / b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        dist.barrier()
        times.append(time.perf_counter() - t0)
    # Gloo's allreduce of one step's gradients, alone
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))
    for _ in range(20):
        dist.all_reduce(flat)
    dist.barrier()
    ms = []
    for _ in range(200):
        dist.barrier()  # start together, as bench/allreduce_bench.cpp does
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        ms.append(1e3 * (time.perf_counter() - t0))
    ar_ms = sorted(ms)[len(ms) // 2]  # the median
    if rank == 0:
        med = times[-1]
        print("JSON " + json.dumps(dict(ranks=K, threads=a.threads, epoch_s=med, samples_per_s=n / med,
                                        epoch_times=times, steps_per_epoch=steps, allreduce_ms=ar_ms,
                                        allreduce_bytes=flat.numel() * 4)), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--port", type=int, default=29517)
    a = ap.parse_args()
    mp.spawn(worker, args=(a,), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
