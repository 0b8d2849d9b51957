"""GPU implementations of the collectives (unified/ops/collective.py): the buffers go to the
host, the CPU kernel runs the MPI call, and the result comes back. Correct with any MPI (no
CUDA-aware MPI needed); the copies cost two PCIe transfers per call. Limits: no NCCL."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu, host


def _on_host(name: str):
    def run(xp, *arrays, **attrs):
        from unified import _core
        from unified.ops.registry import lookup

        op = lookup(name)
        inputs = tuple(np.ascontiguousarray(host(a)) for a in arrays)
        meta = op.infer(*inputs, **attrs)
        metas = meta if op.num_outputs > 1 else (meta,)
        outs = tuple(np.empty(m.shape, m.dtype) for m in metas)
        _core.run(op.kernel_id(), inputs, outs, op.parsed_attrs(attrs) if attrs else None)
        moved = tuple(xp.asarray(o) for o in outs)
        return moved if op.num_outputs > 1 else moved[0]

    return run


for _name in ("all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier",
              "all_reduce_start", "all_reduce_wait"):
    gpu(_name)(_on_host(_name))
