"""GPU implementation of fused_elementwise (unified/ops/fused.py) for eager calls and the
reference: the register program run instruction by instruction with the elementwise table
(EW), one array per register. A traced graph on a real GPU runs the same program as one
generated CUDA kernel instead (tracer/codegen_cuda.py, used by tracer/gpu_replay.py)."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu
from unified.ops.gpu.elementwise import EW


def run_program(xp, inputs, ops: str, regs, params, num_regs):
    """Registers 0..len(inputs)-1 are the inputs; the last instruction's dst is the output."""
    reg = list(inputs) + [None] * (int(num_regs) - len(inputs))
    dst = 0
    for k, name in enumerate(ops.split()):
        dst, a, b = regs[3 * k:3 * k + 3]
        operands = (reg[a],) if b < 0 else (reg[a], reg[b])
        reg[dst] = EW[name](xp, *operands, params[2 * k], params[2 * k + 1])
    shape = np.broadcast_shapes(*(tuple(x.shape) for x in inputs))
    out = reg[dst]
    return xp.array(xp.broadcast_to(out, shape), dtype=np.float32, order="C", copy=True)


@gpu("fused_elementwise")
def fused_elementwise(xp, *inputs, ops, regs, params, num_regs):
    return run_program(xp, inputs, ops, regs, params, num_regs)
