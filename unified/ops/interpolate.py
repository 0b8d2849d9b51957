"""Resizing NCHW tensors: interpolate ("nearest" or "bilinear", PyTorch's index rules) and
interpolate_backward (its adjoint). Kernels: core_cpp/kernels/interpolate.cpp. Registered when
unified/ops/conv.py is imported; F.interpolate is in unified/functional/pooling.py."""

from __future__ import annotations

from unified.errors import ShapeError, fmt_shape
from unified.ops.infer import F32, require_float
from unified.ops.registry import F, OpDef, TensorMeta, register

MODES = ("nearest", "bilinear")
_ATTRS = {"size": (1, 1), "mode": "nearest", "align_corners": 0, "scale_factor": (0.0, 0.0)}


def _check(op, x, role, size, mode):
    require_float(op, x, role)
    if len(x.shape) != 4:
        raise ShapeError(f"{op}: {role} must be 4-D (N, C, H, W), got {fmt_shape(x.shape)}")
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {MODES}, got {mode!r}")
    if len(size) != 2 or any(s < 1 for s in size):
        raise ShapeError(f"{op}: size {tuple(size)} must be two sizes >= 1")


def _infer(x, size, mode, align_corners, scale_factor):
    _check("interpolate", x, "input", size, mode)
    if 0 in x.shape[2:]:
        raise ShapeError(f"interpolate: cannot resize an empty plane {fmt_shape(x.shape)}")
    return TensorMeta(tuple(x.shape[:2]) + tuple(size), F32)


def _backward_infer(g, size, mode, align_corners, scale_factor, input_size):
    _check("interpolate_backward", g, "grad", size, mode)
    if tuple(g.shape[2:]) != tuple(size):
        raise ShapeError(f"interpolate_backward: grad {fmt_shape(g.shape)} does not have the "
                         f"output size {tuple(size)}")
    return TensorMeta(tuple(g.shape[:2]) + tuple(input_size), F32)


interpolate_backward = register(OpDef(
    name="interpolate_backward", inputs=("grad",), infer=_backward_infer,
    kernel="interpolate_backward",
    grad=lambda gg, g, out, input_size, **attrs: F.call_op(interpolate, gg, **attrs),
    attrs=dict(_ATTRS, input_size=(1, 1)), saves_inputs=False,
    onnx_unsupported="backward ops are not exported",
    doc="the adjoint of interpolate: each output's grad goes to the inputs it read",
))
interpolate = register(OpDef(
    name="interpolate", inputs=("input",), infer=_infer, kernel="interpolate",
    grad=lambda g, x, out, **attrs: F.call_op(
        interpolate_backward, g, input_size=tuple(x.shape[2:]), **attrs),
    attrs=dict(_ATTRS), saves_inputs=False, onnx="Resize",
    doc="resize H and W to `size`; scale_factor (0 = from the sizes) sets source coordinates",
))
