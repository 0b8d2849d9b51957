"""The functional collectives on Tensors: all_reduce, broadcast, all_gather, reduce_scatter,
barrier, and the asynchronous all_reduce_start / all_reduce_wait pair. Each is one registered op
(unified/ops/collective.py) through the dispatcher, so it runs eagerly, records into a traced
graph and differentiates (all_reduce, all_gather, reduce_scatter). Unlike torch.distributed's
in-place calls they return a new tensor (like torch.distributed.nn.functional): write
`t.copy_(dist.all_reduce(t))` for the in-place form."""

from __future__ import annotations

from unified.dispatch import apply
from unified.distributed.process_group import get_world_size
from unified.ops import collective as ops
from unified.tensor import Tensor


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """`tensor` reduced over every process: op "sum", "mean", "max" or "min".

    >>> import unified as U, unified.distributed as dist
    >>> dist.init(backend="local")
    >>> dist.all_reduce(U.tensor([1.0, 2.0]), op="mean").tolist()
    [1.0, 2.0]
    >>> dist.destroy_process_group()
    """
    return apply(ops.all_reduce, (tensor,), {"op": op})


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Rank `src`'s `tensor` on every process (every rank passes a tensor of the same shape)."""
    return apply(ops.broadcast, (tensor,), {"src": int(src)})


def all_gather(tensor: Tensor) -> Tensor:
    """Every rank's `tensor` concatenated along dim 0 in rank order (torch's
    all_gather_into_tensor)."""
    return apply(ops.all_gather, (tensor,), {"world_size": get_world_size()})


def reduce_scatter(tensor: Tensor, op: str = "sum") -> Tensor:
    """`tensor` (dim 0 = world size x n) reduced over every process; rank r gets block r (n
    rows) (torch's reduce_scatter_tensor)."""
    return apply(ops.reduce_scatter, (tensor,), {"op": op, "world_size": get_world_size()})


def barrier() -> None:
    """Wait until every process reaches this call."""
    apply(ops.barrier, ())


def all_reduce_start(tensor: Tensor, slot: int, op: str = "sum") -> Tensor:
    """Start an all-reduce of `tensor` in communication slot `slot` (a copy is taken, so the
    tensor may change afterwards); returns the token all_reduce_wait takes. One all-reduce per
    slot may be in flight."""
    return apply(ops.all_reduce_start, (tensor,), {"slot": int(slot), "op": op})


def all_reduce_wait(token: Tensor, shape: tuple[int, ...], dtype: str = "float32") -> Tensor:
    """The result of the all-reduce `token` started (a tensor of `shape` and `dtype`)."""
    return apply(ops.all_reduce_wait, (token,), {"shape": tuple(int(d) for d in shape),
                                                  "dtype": str(dtype)})
