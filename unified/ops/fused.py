"""The fused-elementwise op: one kernel call running a register program of fusable float32
elementwise ops (those with `fuse_params`), built by tracer/passes/fuse.py.
Kernel: core_cpp/kernels/fused.cpp, which calls the same ew:: math as the unfused kernels."""

from __future__ import annotations

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.infer import F32
from unified.ops.registry import OpDef, TensorMeta, Trait, register


def _fused_infer(*inputs, ops: str, regs, params, num_regs) -> TensorMeta:
    """Inputs: float32, each of one shape or 0-d; the output has that shape (or is 0-d)."""
    if not inputs:
        raise ShapeError(f"fused_elementwise: needs at least one input (ops={ops!r})")
    shapes = {tuple(m.shape) for m in inputs if len(m.shape) > 0}
    if len(shapes) > 1:
        listed = ", ".join(fmt_shape(m.shape) for m in inputs)
        raise ShapeError(f"fused_elementwise: inputs must share one shape or be 0-d, got {listed}")
    for k, m in enumerate(inputs):
        if m.dtype != F32:
            raise DTypeError(f"fused_elementwise: input {k} must be float32, got {m.dtype} "
                             f"(shape {fmt_shape(m.shape)})")
    return TensorMeta(shapes.pop() if shapes else (), F32)


fused_elementwise = register(OpDef(
    name="fused_elementwise", inputs=("*inputs",), infer=_fused_infer, kernel="fused_elementwise",
    grad=None, attrs={"ops": "", "regs": (), "params": (), "num_regs": 0},
    traits=frozenset({Trait.ELEMENTWISE}), onnx_unsupported="decomposed before export",
    doc="run a program of elementwise ops: instruction k is ops[k] with registers "
        "regs[3k:3k+3] (dst, a, b; b = -1 for unary) and params[2k:2k+2]; registers "
        "0..n_inputs-1 are the inputs, the last instruction's dst is the output",
))
