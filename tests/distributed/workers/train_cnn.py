"""Worker for tests/distributed/test_data_parallel.py: trains a small digits CNN on a fixed
sequence of global batches, split over the ranks (rank r takes rows r*B/N .. (r+1)*B/N of
each global batch of B), and writes rank 0's parameters (or gradients) per case to
OUT_DIR/<case>.npz. Run alone (`--reference`) it is the one-process oracle: no DataParallel,
plain BatchNorm where the case uses SyncBatchNorm.

    python train_cnn.py OUT_DIR CASE [CASE ...] [--reference]
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

import unified as U
import unified.distributed as dist
import unified.nn as nn
import unified.optim as optim
from unified.datasets import digits_split

# case: (mode, norm, steps, bucket_cap_mb, accumulation micro-batches, save gradients only)
CASES = {
    "eager": ("eager", "none", 20, 25.0, 1, False),
    "traced": ("traced", "none", 20, 25.0, 1, False),
    "sync_eager": ("eager", "sync", 10, 25.0, 1, False),
    "sync_traced": ("traced", "sync", 10, 25.0, 1, False),
    "buckets": ("eager", "none", 1, 0.002, 1, True),
    "no_sync": ("eager", "none", 5, 25.0, 2, False),
}
BATCH = 32


def build(norm: str, reference: bool) -> nn.Module:
    def bn(c: int) -> list:
        if norm == "sync":
            return [nn.BatchNorm2d(c) if reference else dist.SyncBatchNorm(c)]
        return []

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), *bn(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), *bn(16), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))


def run(case: str, reference: bool) -> dict[str, np.ndarray]:
    mode, norm, steps, cap_mb, accum, grads_only = CASES[case]
    rank, size = dist.get_rank(), dist.get_world_size()
    U.manual_seed(0)
    net = build(norm, reference)
    model = net if reference else dist.DataParallel(net, bucket_cap_mb=cap_mb)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x_all, _, y_all, _ = digits_split(test_fraction=0.2, seed=0)
    local = BATCH // size
    micro = local // accum if not reference else local

    def train_step(x, y):
        opt.zero_grad()
        parts = accum if not reference else 1
        for k in range(parts):
            last = k == parts - 1
            with (model.no_sync() if not (last or reference) else contextlib.nullcontext()):
                out = model(x[k * micro:(k + 1) * micro])
                loss = nn.functional.cross_entropy(out, y[k * micro:(k + 1) * micro])
                (loss * (1.0 / parts)).backward()
        if not grads_only:
            opt.step()
        return loss

    step = U.trace(train_step) if mode == "traced" and not reference else train_step
    for s in range(steps):
        rows = slice(s * BATCH + rank * local, s * BATCH + (rank + 1) * local)
        step(x_all[rows], y_all[rows])
    if mode == "traced" and not reference:
        dist.check_traced(step)
    values = {f"p.{n}": t.detach().numpy().copy() for n, t in net.state_dict().items()}
    if grads_only:
        values.update({f"g.{n}": t.grad.numpy().copy() for n, t in net.named_parameters()})
    if not reference:
        values["buckets"] = np.array(len(model.buckets))
    return values


def main(argv: list[str]) -> None:
    reference = "--reference" in argv
    out_dir, *cases = [a for a in argv if a != "--reference"]
    if not reference:
        dist.init()
    for case in cases:
        values = run(case, reference)
        if dist.get_rank() == 0:
            np.savez(os.path.join(out_dir, f"{case}.npz"), **values)


if __name__ == "__main__":
    main(sys.argv[1:])
