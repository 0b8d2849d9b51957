"""Resizing NCHW tensors: interpolate ("nearest" or "bilinear", PyTorch's index rules) and
interpolate_backward (its adjoint). Kernels: core_cpp/kernels/interpolate.cpp. Registered when
unified/ops/conv.py is imported; F.interpolate is in unified/functional/pooling.py."""

from __future__ import annotations

import numpy as np

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
def axis_taps(size: int, out: int, scale_factor: float, bilinear: bool, align_corners: bool):
    """(lo, hi, w_lo) per output position of one axis, in float32 as kernels/interpolate.cpp's
    axis_taps computes them (PyTorch's rules)."""
    f32 = np.float32
    scale = f32(1.0 / scale_factor) if scale_factor > 0 else f32(size) / f32(out)
    i = np.arange(out).astype(f32)
    if not bilinear:
        lo = np.minimum(np.floor(i * scale).astype(np.int64), size - 1)
        return lo, lo, np.ones(out, f32)
    if align_corners:
        src = i * f32(size - 1) / f32(out - 1) if out > 1 else np.zeros(out, f32)
    else:
        src = np.maximum(f32(0.0), (i + f32(0.5)) * scale - f32(0.5))
    lo = np.minimum(src.astype(np.int64), size - 1)
    hi = np.where(lo < size - 1, lo + 1, lo)
    return lo, hi, (f32(1.0) - (src - lo.astype(f32))).astype(f32)


def _interpolate_onnx(b, inputs, attrs, in_metas, out_metas):
    """Gather rows, then columns, at the kernel's own taps (constants), blended with its
    weights for bilinear: the same source positions as eager, bit for bit."""
    b.require_static(0, (2, 3), "interpolate's source positions are computed at export")
    x, bilinear = inputs[0], attrs["mode"] == "bilinear"
    for axis in (2, 3):
        lo, hi, w_lo = axis_taps(in_metas[0].shape[axis], attrs["size"][axis - 2],
                                 attrs["scale_factor"][axis - 2], bilinear,
                                 bool(attrs["align_corners"]))
        near = b.one("Gather", [x, b.const(lo)], axis=axis)
        if not bilinear:
            x = near
            continue
        far = b.one("Gather", [x, b.const(hi)], axis=axis)
        shape = (-1, 1) if axis == 2 else (-1,)
        w = b.const(w_lo.reshape(shape))
        w_far = b.const((np.float32(1.0) - w_lo).reshape(shape))
        x = b.one("Add", [b.one("Mul", [near, w]), b.one("Mul", [far, w_far])])
    return [x]


interpolate = register(OpDef(
    name="interpolate", inputs=("input",), infer=_infer, kernel="interpolate",
    grad=lambda g, x, out, **attrs: F.call_op(
        interpolate_backward, g, input_size=tuple(x.shape[2:]), **attrs),
    attrs=dict(_ATTRS), saves_inputs=False, onnx=_interpolate_onnx,
    doc="resize H and W to `size`; scale_factor (0 = from the sizes) sets source coordinates",
))
