"""Worker for tests/distributed/test_unused.py: parameters without a gradient under
DataParallel. The model has a head `never` that no rank uses and a head `sometimes` that only
rank 0 uses (CASE eager, traced_mixed) or no rank uses (traced). Each rank also computes the
one-process oracle: a plain copy of the model on every rank's batch, loss = the mean of the
ranks' losses. Writes OUT_DIR/<case>.rank<r>.npz: the gradients (and, traced, parameters
after 3 SGD steps) of both, and which gradients are None.

    python unused.py OUT_DIR CASE     (CASE: eager, traced, traced_mixed)
"""

from __future__ import annotations

import os
import sys

import numpy as np

import unified as U
import unified.distributed as dist
import unified.nn as nn

ROWS = 4  # per rank


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 3)
        self.never = nn.Linear(8, 3)
        self.sometimes = nn.Linear(8, 3)

    def forward(self, x, use_sometimes: bool):
        h = self.body(x).relu()
        out = self.head(h)
        return out + self.sometimes(h) * 0.5 if use_sometimes else out


def loss_of(model, x, y, use_sometimes: bool):
    return nn.functional.cross_entropy(model(x, use_sometimes), y)


def main(out_dir: str, case: str) -> None:
    dist.init()
    rank, size = dist.get_rank(), dist.get_world_size()
    U.manual_seed(0)
    x_all, y_all = U.randn(size * ROWS, 4), U.randint(0, 3, (size * ROWS,))
    U.manual_seed(1)
    model = dist.DataParallel(Net())
    U.manual_seed(1)
    oracle = Net()
    uses = [r == 0 and case != "traced" for r in range(size)]
    rows = slice(rank * ROWS, (rank + 1) * ROWS)
    values = {}
    if case == "eager":
        loss_of(model, x_all[rows], y_all[rows], uses[rank]).backward()
        total = sum(loss_of(oracle, x_all[r * ROWS:(r + 1) * ROWS], y_all[r * ROWS:(r + 1) * ROWS],
                            uses[r]) for r in range(size))
        (total * (1.0 / size)).backward()
    else:
        opt = U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        ref_opt = U.optim.SGD(oracle.parameters(), lr=0.1, momentum=0.9)

        @U.trace
        def step(x, y):
            opt.zero_grad()
            loss = loss_of(model, x, y, uses[rank])
            loss.backward()
            opt.step()
            return loss

        for _ in range(3):
            step(x_all[rows], y_all[rows])
            ref_opt.zero_grad()
            total = sum(loss_of(oracle, x_all[r * ROWS:(r + 1) * ROWS],
                                y_all[r * ROWS:(r + 1) * ROWS], uses[r]) for r in range(size))
            (total * (1.0 / size)).backward()
            ref_opt.step()
        for name, p in model.module.named_parameters():
            values[f"param.{name}"] = p.detach().numpy().copy()
        for name, p in oracle.named_parameters():
            values[f"ref_param.{name}"] = p.detach().numpy().copy()
    for prefix, net in (("", model.module), ("ref_", oracle)):
        none = []
        for name, p in net.named_parameters():
            if p.grad is None:
                none.append(name)
            else:
                values[f"{prefix}grad.{name}"] = p.grad.numpy().copy()
        values[f"{prefix}none"] = np.array(sorted(none))
    np.savez(os.path.join(out_dir, f"{case}.rank{rank}.npz"), **values)


if __name__ == "__main__":
    main(*sys.argv[1:])
