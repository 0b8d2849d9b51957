"""The fused conv op: conv2d(input, weight, bias), then a one-input fusable activation (relu,
gelu, ... : an op with `fuse_params` that the fused engine runs), in one kernel call. Built by
tracer/passes/fuse_conv.py from a `conv2d` whose output dies at that activation; the kernel
(core_cpp/kernels/conv.cpp fused_conv2d) runs the same conv2d code and applies the engine's
tile of the activation to each output block while it is in cache, so it is bit-identical to
the two ops. The linear counterpart is fused_linear.py."""

from __future__ import annotations

from unified import _core
from unified.errors import ShapeError
from unified.ops.conv import _CONV_ATTRS, _conv2d_infer
from unified.ops.registry import OPS, OpDef, TensorMeta, register


def _fused_conv2d_infer(x, w, b, stride, padding, dilation, groups, activation: str,
                        p0: float, p1: float) -> TensorMeta:
    meta = _conv2d_infer(x, w, b, stride, padding, dilation, groups)
    op = OPS.get(activation)
    if op is None or len(op.inputs) != 1 or activation not in _core.fusable_ops():
        raise ShapeError(f"fused_conv2d: activation {activation!r} is not a one-input op of "
                         "the fused engine (_core.fusable_ops())")
    return meta


fused_conv2d = register(OpDef(
    name="fused_conv2d", inputs=("input", "weight", "bias"), infer=_fused_conv2d_infer,
    kernel="fused_conv2d", grad=None,
    attrs=dict(_CONV_ATTRS, activation="relu", p0=0.0, p1=0.0),
    onnx_unsupported="decomposed before export",
    doc="activation(conv2d(input, weight, bias)) with conv2d's attrs and the activation's "
        "params p0, p1 (tracer/passes/fuse.py fuse_values)",
))
