"""Worker for tests/distributed/test_nccl.py (2 GPUs): collectives on cuda tensors through
NCCL, and 3 DataParallel SGD steps of an MLP on cuda parameters next to the same on CPU
parameters (MPI), written to OUT_DIR/rank<r>.npz."""

from __future__ import annotations

import os
import sys

import numpy as np

import unified as U
import unified.distributed as dist
import unified.nn as nn
from unified.distributed import nccl


def train(device: str) -> dict[str, np.ndarray]:
    U.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    if device != "cpu":
        net.to(device)
    model = dist.DataParallel(net, bucket_cap_mb=1e-3)  # several buckets
    opt = U.optim.SGD(model.parameters(), lr=0.1)
    U.manual_seed(1 + dist.get_rank())
    x, y = U.randn(6, 8), U.randint(0, 4, (6,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
        opt.step()
    return {f"{'gpu' if device != 'cpu' else 'cpu'}.{n}": p.detach().cpu().numpy()
            for n, p in net.named_parameters()}


def main(out_dir: str) -> None:
    dist.init(nccl=True)
    r = dist.get_rank()
    x = U.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1), device="cuda")
    values = {"sum": dist.all_reduce(x).cpu().numpy(),
              "gather": dist.all_gather(x).cpu().numpy(),
              "broadcast": dist.broadcast(x, src=1).cpu().numpy()}
    values["used_nccl"] = np.array([int(nccl._S.nccl is not None)])
    values.update(train("cuda"))
    values.update(train("cpu"))
    np.savez(os.path.join(out_dir, f"rank{r}.npz"), **values)


if __name__ == "__main__":
    main(sys.argv[1])
