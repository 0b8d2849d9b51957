"""Collective ops: all_reduce, broadcast, all_gather, reduce_scatter, barrier, and the
asynchronous pair all_reduce_start / all_reduce_wait that DataParallel uses to overlap the
gradient all-reduce with backward. Kernels: core_cpp/kernels/collective.cpp, over the
communicator of core_cpp/src/comm.cpp (set by unified.distributed.init). Every collective is
Trait.SIDE_EFFECT: its value depends on the other processes, so passes never fold, merge or
drop it, and a traced step runs them in recorded order. The world size an op's shape depends
on is an attr (`world_size`), filled by unified/distributed/ from the communicator, so shape
inference stays pure and the printed graph shows it."""

from __future__ import annotations

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.registry import OpDef, TensorMeta, Trait, register

COLLECTIVE = frozenset({Trait.SIDE_EFFECT})
NO_ONNX = "collectives run between training processes; ONNX export covers one-process inference"
REDUCE_OPS = ("sum", "mean", "max", "min")
DTYPES = tuple(np.dtype(d) for d in (np.float32, np.int32, np.int64))
I64 = np.dtype(np.int64)


def _check(op: str, x, reduce: str | None = None) -> None:
    if np.dtype(x.dtype) not in DTYPES:
        raise DTypeError(f"{op}: dtype {np.dtype(x.dtype)} is not supported (float32, int32, "
                         f"int64), got shape {fmt_shape(x.shape)}")
    if reduce is not None:
        if reduce not in REDUCE_OPS:
            raise ValueError(f"{op}: op must be one of {REDUCE_OPS}, got {reduce!r}")
        if reduce == "mean" and np.dtype(x.dtype) != np.float32:
            raise DTypeError(f"{op}: op 'mean' needs float32, got {np.dtype(x.dtype)}")


def _apply(opdef: OpDef, x, **attrs):
    from unified.dispatch import apply  # dispatch imports the ops: resolved at grad time

    return apply(opdef, (x,), attrs)


def _world(op: str, world_size: int) -> int:
    if int(world_size) < 1:
        raise ValueError(f"{op}: world_size must be >= 1, got {world_size}")
    return int(world_size)


def _all_reduce_infer(x, op):
    _check("all_reduce", x, op)
    return TensorMeta(tuple(x.shape), np.dtype(x.dtype))


def _all_reduce_grad(g, x, out, op):
    # every rank's loss depends on the reduced value: the gradient sums over ranks (mean: /size)
    if op not in ("sum", "mean"):
        raise RuntimeError(f"all_reduce: op {op!r} has no gradient here (sum and mean do)")
    return (_apply(all_reduce, g, op=op),)


def _broadcast_infer(x, src):
    _check("broadcast", x)
    if int(src) < 0:
        raise ValueError(f"broadcast: src must be a rank (>= 0), got {src}")
    return TensorMeta(tuple(x.shape), np.dtype(x.dtype))


def _all_gather_infer(x, world_size):
    _check("all_gather", x)
    size = _world("all_gather", world_size)
    if len(x.shape) == 0:
        raise ShapeError("all_gather: input must have at least one dimension (gathered along "
                         "dim 0), got a 0-d tensor")
    return TensorMeta((x.shape[0] * size,) + tuple(x.shape[1:]), np.dtype(x.dtype))


def _reduce_scatter_infer(x, op, world_size):
    _check("reduce_scatter", x, op)
    size = _world("reduce_scatter", world_size)
    if len(x.shape) == 0 or x.shape[0] % size:
        raise ShapeError(f"reduce_scatter: dim 0 of the input must split into {size} equal "
                         f"blocks (one per rank), got shape {fmt_shape(x.shape)}")
    return TensorMeta((x.shape[0] // size,) + tuple(x.shape[1:]), np.dtype(x.dtype))


def _all_gather_grad(g, x, out, world_size):
    return (_apply(reduce_scatter, g, op="sum", world_size=world_size),)


def _reduce_scatter_grad(g, x, out, op, world_size):
    if op not in ("sum", "mean"):
        raise RuntimeError(f"reduce_scatter: op {op!r} has no gradient here (sum and mean do)")
    gathered = _apply(all_gather, g, world_size=world_size)
    return (gathered if op == "sum" else gathered * (1.0 / world_size),)


def _barrier_infer():
    return TensorMeta((), I64)


def _start_infer(x, slot, op):
    _check("all_reduce_start", x, op)
    if not 0 <= int(slot) < (1 << 20):
        raise ValueError(f"all_reduce_start: slot must be in [0, 1048576), got {slot}")
    return TensorMeta((2,), I64)


def _wait_infer(token, shape, dtype):
    if tuple(token.shape) != (2,) or np.dtype(token.dtype) != I64:
        raise DTypeError(f"all_reduce_wait: token must be int64 of shape (2,) (from "
                         f"all_reduce_start), got {np.dtype(token.dtype)} of shape "
                         f"{fmt_shape(token.shape)}")
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise DTypeError(f"all_reduce_wait: dtype {dtype} is not supported")
    return TensorMeta(tuple(int(d) for d in shape), dtype)


all_reduce = register(OpDef(
    name="all_reduce", inputs=("x",), infer=_all_reduce_infer, kernel="all_reduce",
    grad=_all_reduce_grad, attrs={"op": "sum"}, traits=COLLECTIVE, saves_inputs=False,
    onnx_unsupported=NO_ONNX, doc="x reduced over every process (sum, mean, max or min)",
))
broadcast = register(OpDef(
    name="broadcast", inputs=("x",), infer=_broadcast_infer, kernel="broadcast", grad=None,
    attrs={"src": 0}, traits=COLLECTIVE, onnx_unsupported=NO_ONNX,
    doc="rank src's x on every process (not differentiable: the other ranks' x is unused)",
))
all_gather = register(OpDef(
    name="all_gather", inputs=("x",), infer=_all_gather_infer, kernel="all_gather",
    grad=_all_gather_grad, attrs={"world_size": 1}, traits=COLLECTIVE, saves_inputs=False,
    onnx_unsupported=NO_ONNX, doc="every rank's x concatenated along dim 0, in rank order",
))
reduce_scatter = register(OpDef(
    name="reduce_scatter", inputs=("x",), infer=_reduce_scatter_infer, kernel="reduce_scatter",
    grad=_reduce_scatter_grad, attrs={"op": "sum", "world_size": 1}, traits=COLLECTIVE,
    saves_inputs=False, onnx_unsupported=NO_ONNX,
    doc="x reduced over every process, then split along dim 0: rank r keeps block r",
))
barrier = register(OpDef(
    name="barrier", inputs=(), infer=_barrier_infer, kernel="barrier", grad=None,
    traits=COLLECTIVE, onnx_unsupported=NO_ONNX,
    doc="waits until every process reaches it; returns an int64 0",
))
all_reduce_start = register(OpDef(
    name="all_reduce_start", inputs=("x",), infer=_start_infer, kernel="all_reduce_start",
    grad=None, attrs={"slot": 0, "op": "sum"}, traits=COLLECTIVE, onnx_unsupported=NO_ONNX,
    doc="copies x into communication slot `slot` and starts its all-reduce; returns the token "
        "(slot, sequence) that all_reduce_wait takes",
))
all_reduce_wait = register(OpDef(
    name="all_reduce_wait", inputs=("token",), infer=_wait_infer, kernel="all_reduce_wait",
    grad=None, attrs={"shape": (), "dtype": "float32"}, traits=COLLECTIVE,
    onnx_unsupported=NO_ONNX,
    doc="waits for the token's all-reduce and returns the reduced tensor (shape, dtype attrs)",
))
