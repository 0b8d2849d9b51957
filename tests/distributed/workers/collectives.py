"""Worker for tests/distributed/test_collectives.py: every collective on rank-dependent data,
written per rank to OUT_DIR/rank<r>.npz for the test to compare with NumPy."""

from __future__ import annotations

import os
import sys

import numpy as np

import unified as U
import unified.distributed as dist
from unified import _core


def main(out_dir: str) -> None:
    dist.init()
    r = dist.get_rank()
    x = U.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1))
    res = {
        "sum": dist.all_reduce(x), "mean": dist.all_reduce(x, "mean"),
        "max": dist.all_reduce(x, "max"), "min": dist.all_reduce(x, "min"),
        "int_sum": dist.all_reduce(U.tensor([r, 10 * r])),
        "strided": dist.all_reduce(x.T),
        "broadcast": dist.broadcast(x, src=1),
        "gather": dist.all_gather(U.tensor([[r, r + 1]])),
        "scatter": dist.reduce_scatter(U.tensor(np.arange(4, dtype=np.float32) * (r + 1))),
    }
    tok0 = dist.all_reduce_start(x, slot=0, op="mean")
    tok1 = dist.all_reduce_start(x * 2.0, slot=1)
    res["async1"] = dist.all_reduce_wait(tok1, (2, 3))  # waited out of start order
    res["async0"] = dist.all_reduce_wait(tok0, (2, 3))
    w = U.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (dist.all_reduce(w * float(r + 1)) * U.tensor([1.0, 10.0, 100.0])).sum().backward()
    res["grad"] = w.grad
    try:
        dist.all_reduce_start(x, slot=0)
        dist.all_reduce_start(x, slot=0)
    except ValueError as exc:
        res["twice"] = U.tensor([1])
        with open(os.path.join(out_dir, f"error{r}.txt"), "w") as f:
            f.write(str(exc))
    dist.barrier()
    values = {k: v.numpy() for k, v in res.items()}
    values["stats"] = np.array([_core.comm_stats()["in_flight"]])
    np.savez(os.path.join(out_dir, f"rank{r}.npz"), **values)


if __name__ == "__main__":
    main(sys.argv[1])
