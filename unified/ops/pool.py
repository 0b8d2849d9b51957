"""Pooling ops over NCHW tensors: max_pool2d (values and flat H*W indices), avg_pool2d,
adaptive_avg_pool2d and their backward ops. Kernels: core_cpp/kernels/pool.cpp. Registered
when unified/ops/conv.py is imported; functions in unified/functional/pooling.py."""

from __future__ import annotations

import numpy as np

from unified.errors import ShapeError, fmt_shape
from unified.ops.infer import F32, require_float
from unified.ops.registry import F, OpDef, TensorMeta, register

BACKWARD = "backward ops are not exported"
LATER = "lowering arrives with the ONNX exporter (issue 5)"
_I64 = np.dtype(np.int64)


def pool_out_size(op: str, size: int, kernel: int, stride: int, padding: int, dilation: int,
                  ceil_mode: bool, what: str) -> int:
    """PyTorch's pooling output length (ceil_mode keeps the last window only if it starts
    inside the input or its left padding)."""
    if kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise ShapeError(f"{op}: kernel_size, stride and dilation must be >= 1 and padding >= 0 "
                         f"({what})")
    if padding > kernel // 2:
        raise ShapeError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel} ({what})")
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if span < 0 or out <= 0:
        raise ShapeError(f"{op}: kernel size {kernel} (dilation {dilation}) is larger than the "
                         f"padded input size {size + 2 * padding} ({what})")
    return out


def _pooled_shape(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    require_float(op, x)
    if len(x.shape) != 4:
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W), got {fmt_shape(x.shape)}")
    what = (f"input {fmt_shape(x.shape)}, kernel_size {tuple(kernel_size)}, stride "
            f"{tuple(stride)}, padding {tuple(padding)}")
    return tuple(x.shape[:2]) + tuple(
        pool_out_size(op, x.shape[2 + i], kernel_size[i], stride[i], padding[i], dilation[i],
                      ceil_mode, what) for i in range(2))


def _max_infer(x, kernel_size, stride, padding, dilation, ceil_mode):
    shape = _pooled_shape("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    return TensorMeta(shape, F32), TensorMeta(shape, _I64)


def _max_grad(g, x, out, **attrs):
    if g[0] is None:
        return (None,)
    return (F.call_op(max_pool2d_backward, g[0], out[1], input_size=tuple(x.shape[2:])),)


def _grad_infer(op):
    """(grad, ...) -> a tensor of grad's N and C with spatial dims `input_size`."""

    def infer(g, *rest, input_size, **attrs):
        require_float(op, g, "grad")
        if len(g.shape) != 4:
            raise ShapeError(f"{op}: grad must be 4-D, got {fmt_shape(g.shape)}")
        for r in rest:
            if tuple(r.shape) != tuple(g.shape):
                raise ShapeError(f"{op}: indices {fmt_shape(r.shape)} must have grad's shape "
                                 f"{fmt_shape(g.shape)}")
        return TensorMeta(tuple(g.shape[:2]) + tuple(input_size), F32)

    return infer


_POOL = {"kernel_size": (1, 1), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1),
         "ceil_mode": 0}

max_pool2d_backward = register(OpDef(
    name="max_pool2d_backward", inputs=("grad", "indices"),
    infer=_grad_infer("max_pool2d_backward"), kernel="max_pool2d_backward",
    grad=None, attrs={"input_size": (1, 1)}, onnx_unsupported=BACKWARD,
    doc="scatter-adds grad to the input positions in indices; not differentiable twice here",
))
max_pool2d = register(OpDef(
    name="max_pool2d", inputs=("input",), infer=_max_infer, kernel="max_pool2d", grad=_max_grad,
    attrs=dict(_POOL), num_outputs=2, saves_inputs=False, saves_output=True, onnx="MaxPool",
    doc="max over windows; output 1 holds each maximum's flat index in its H*W plane",
))

_AVG = {"kernel_size": (1, 1), "stride": (1, 1), "padding": (0, 0), "ceil_mode": 0,
        "count_include_pad": 1, "divisor_override": 0}


def _avg_infer(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    shape = _pooled_shape("avg_pool2d", x, kernel_size, stride, padding, (1, 1), ceil_mode)
    return TensorMeta(shape, F32)


def _avg_grad(g, x, out, **attrs):
    return F.call_op(avg_pool2d_backward, g, input_size=tuple(x.shape[2:]), **attrs)


def _avg_backward_grad(gg, g, out, input_size, **attrs):
    return F.call_op(avg_pool2d, gg, **attrs)


avg_pool2d_backward = register(OpDef(
    name="avg_pool2d_backward", inputs=("grad",), infer=_grad_infer("avg_pool2d_backward"),
    kernel="avg_pool2d_backward", grad=_avg_backward_grad, attrs=dict(_AVG, input_size=(1, 1)),
    saves_inputs=False, onnx_unsupported=BACKWARD,
    doc="spreads each grad over its window (divided as the forward divided)",
))
avg_pool2d = register(OpDef(
    name="avg_pool2d", inputs=("input",), infer=_avg_infer, kernel="avg_pool2d", grad=_avg_grad,
    attrs=dict(_AVG), saves_inputs=False, onnx="AveragePool",
    doc="mean over windows; divisor_override 0 means none",
))


def _adaptive_infer(x, output_size):
    require_float("adaptive_avg_pool2d", x)
    if len(x.shape) != 4:
        raise ShapeError(f"adaptive_avg_pool2d: input must be 4-D (N, C, H, W), got "
                         f"{fmt_shape(x.shape)}")
    if any(s < 1 for s in output_size):
        raise ShapeError(f"adaptive_avg_pool2d: output_size {tuple(output_size)} must be >= 1")
    return TensorMeta(tuple(x.shape[:2]) + tuple(output_size), F32)


adaptive_avg_pool2d_backward = register(OpDef(
    name="adaptive_avg_pool2d_backward", inputs=("grad",),
    infer=_grad_infer("adaptive_avg_pool2d_backward"), kernel="adaptive_avg_pool2d_backward",
    grad=lambda gg, g, out, input_size: F.call_op(
        adaptive_avg_pool2d, gg, output_size=tuple(g.shape[2:])),
    attrs={"input_size": (1, 1)}, saves_inputs=False, onnx_unsupported=BACKWARD,
    doc="spreads each grad evenly over its adaptive window",
))
adaptive_avg_pool2d = register(OpDef(
    name="adaptive_avg_pool2d", inputs=("input",), infer=_adaptive_infer,
    kernel="adaptive_avg_pool2d",
    grad=lambda g, x, out, output_size: F.call_op(
        adaptive_avg_pool2d_backward, g, input_size=tuple(x.shape[2:])),
    attrs={"output_size": (1, 1)}, saves_inputs=False, onnx_unsupported=LATER,
    doc="mean over windows [floor(i*H/OH), ceil((i+1)*H/OH))",
))
