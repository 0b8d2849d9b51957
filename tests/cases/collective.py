"""Op table rows for unified/ops/collective.py, run in one process on a local world (a world of
one rank, unified.distributed.init(backend="local")), where every collective is the identity:
the rows check dispatch, shapes, dtypes, strided inputs and the gradient rules (all_reduce's is
an all_reduce, all_gather's a reduce_scatter and back). tests/distributed/ runs them on 2 MPI
processes against NumPy."""

import numpy as np

import unified.distributed as dist
from tests.op_cases import Arg, OpCase
from unified.dispatch import apply
from unified.ops import collective as ops


def _world():
    if not dist.is_initialized():
        dist.init(backend="local")


def _call(fn):
    def call(*tensors):
        _world()
        return fn(*tensors)
    return call


def _same(x):
    return x


def _start_wait(x):
    token = dist.all_reduce_start(x, slot=9, op="mean" if x.is_floating_point() else "sum")
    return dist.all_reduce_wait(token, x.shape, str(x.dtype))


CASES = [
    OpCase("all_reduce_sum", _call(lambda x: dist.all_reduce(x, "sum")), _same, (Arg((3, 4)),)),
    OpCase("all_reduce_mean_transposed", _call(lambda x: dist.all_reduce(x, "mean")), _same,
           (Arg((4, 3), layout="transposed"),)),
    OpCase("all_reduce_max", _call(lambda x: dist.all_reduce(x, "max")), _same, (Arg((5,)),),
           grad=False),
    OpCase("all_reduce_min_int64", _call(lambda x: dist.all_reduce(x, "min")), _same,
           (Arg((2, 3), kind="int", dtype="int64", high=100),), grad=False),
    OpCase("broadcast", _call(lambda x: dist.broadcast(x, src=0)), _same, (Arg((2, 2)),),
           grad=False),
    OpCase("all_gather", _call(dist.all_gather), _same, (Arg((3, 2)),)),
    OpCase("reduce_scatter", _call(dist.reduce_scatter), _same,
           (Arg((4, 2), layout="strided"),)),
    OpCase("barrier", _call(lambda: apply(ops.barrier, ())), lambda: np.array(0), (),
           grad=False),
    OpCase("all_reduce_start_wait", _call(_start_wait), _same, (Arg((2, 5)),), grad=False),
    OpCase("all_reduce_start_wait_int32", _call(_start_wait), _same,
           (Arg((3,), kind="int", dtype="int32"),), grad=False),
]
