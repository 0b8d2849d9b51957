"""The fused linear op: input @ weight^T + bias, then a one-input fusable activation (relu,
gelu, ... : an op with `fuse_params` that the fused engine runs), in one kernel call. Built by
tracer/passes/fuse_linear.py from a `linear` whose output dies at that activation; the
kernel (core_cpp/kernels/fused_linear.cpp) runs the same `linear` kernel and the engine's
tile of the activation, so it is bit-identical to the two ops."""

from __future__ import annotations

from unified import _core
from unified.errors import ShapeError
from unified.ops.matmul import _linear_infer
from unified.ops.registry import OPS, OpDef, TensorMeta, register


def _fused_linear_infer(x, w, b, activation: str, p0: float, p1: float) -> TensorMeta:
    meta = _linear_infer(x, w, b)
    op = OPS.get(activation)
    if op is None or len(op.inputs) != 1 or activation not in _core.fusable_ops():
        raise ShapeError(f"fused_linear: activation {activation!r} is not a one-input op of "
                         "the fused engine (_core.fusable_ops())")
    return meta


fused_linear = register(OpDef(
    name="fused_linear", inputs=("input", "weight", "bias"), infer=_fused_linear_infer,
    kernel="fused_linear", grad=None, attrs={"activation": "relu", "p0": 0.0, "p1": 0.0},
    onnx_unsupported="decomposed before export",
    doc="activation(input @ weight^T + bias) with the activation's params p0, p1 "
        "(tracer/passes/fuse.py fuse_values)",
))
