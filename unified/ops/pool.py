"""Pooling ops over NCHW tensors: max_pool2d (values and flat H*W indices), avg_pool2d,
adaptive_avg_pool2d and their backward ops. Kernels: core_cpp/kernels/pool.cpp. Registered
when unified/ops/conv.py is imported; functions in unified/functional/pooling.py."""

from __future__ import annotations

import numpy as np

from unified.errors import ShapeError, fmt_shape
from unified.ops.infer import F32, require_float
from unified.ops.registry import F, OpDef, TensorMeta, register

BACKWARD = "backward ops are not exported"
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


# ---- ONNX lowerings: explicit end pads give exactly our output size (ceil_mode included), so
# ONNX's own ceil rule never matters; padded cells are ignored by MaxPool and, with
# count_include_pad=0, by AveragePool, whose divisor is then corrected by a constant. Dynamic
# H/W work where nothing depends on their size: no ceil_mode, no divisor correction.
def _onnx_pads(b, attrs, in_shape, out_shape, dilation) -> list[int]:
    begins = list(attrs["padding"])
    if b.is_dynamic(0, 2) or b.is_dynamic(0, 3):
        if attrs["ceil_mode"]:
            b.require_static(0, (2, 3), "ceil_mode pads are computed from the spatial size")
        return begins + begins  # ONNX's floor rule is ours
    ends = []
    for i in range(2):
        span = (out_shape[2 + i] - 1) * attrs["stride"][i] + dilation[i] * (
            attrs["kernel_size"][i] - 1) + 1
        ends.append(max(span - in_shape[2 + i] - begins[i], 0))
    return begins + ends


def _max_pool_onnx(b, inputs, attrs, in_metas, out_metas):
    """MaxPool; its indices count over the whole NCHW tensor, ours within one H*W plane."""
    in_shape, out_shape = tuple(in_metas[0].shape), tuple(out_metas[0].shape)
    pads = _onnx_pads(b, attrs, in_shape, out_shape, attrs["dilation"])
    values, indices = b.op("MaxPool", inputs, 2, kernel_shape=list(attrs["kernel_size"]),
                           strides=list(attrs["stride"]), pads=pads,
                           dilations=list(attrs["dilation"]))
    if not b.used_outputs[1]:
        return [values, None]
    if b.is_dynamic(0, 2) or b.is_dynamic(0, 3):
        spatial = b.one("Slice", [b.one("Shape", [inputs[0]]), b.i64([2]), b.i64([4])])
        plane = b.reduce("ReduceProd", spatial, [0], False)
    else:
        plane = b.scalar(in_shape[2] * in_shape[3], np.int64)
    return [values, b.one("Mod", [indices, plane])]


def _avg_divisors(attrs, size: int, out: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output position on one axis: (cells inside the input, cells PyTorch counts with
    count_include_pad) of its window, as pool.cpp's avg_window computes them."""
    k, s, p = attrs["kernel_size"][axis], attrs["stride"][axis], attrs["padding"][axis]
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return inside, end - start


def _avg_pool_onnx(b, inputs, attrs, in_metas, out_metas):
    """AveragePool over the cells inside the input, times inside / divisor per output position
    when the divisor counts padding or is overridden."""
    in_shape, out_shape = tuple(in_metas[0].shape), tuple(out_metas[0].shape)
    pads = _onnx_pads(b, attrs, in_shape, out_shape, (1, 1))
    y = b.one("AveragePool", inputs, kernel_shape=list(attrs["kernel_size"]),
              strides=list(attrs["stride"]), pads=pads, count_include_pad=0)
    if not attrs["divisor_override"] and not (attrs["count_include_pad"] and any(
            attrs["padding"])):
        return [y]  # the divisor is the count of cells inside the input, as ONNX's
    b.require_static(0, (2, 3), "the average's divisor per window is computed at export")
    (in_h, pad_h), (in_w, pad_w) = (_avg_divisors(attrs, in_shape[2 + i], out_shape[2 + i], i)
                                    for i in range(2))
    inside = np.outer(in_h, in_w).astype(np.float64)
    if attrs["divisor_override"]:
        divisor = np.full_like(inside, attrs["divisor_override"])
    elif attrs["count_include_pad"]:
        divisor = np.outer(pad_h, pad_w).astype(np.float64)
    else:
        return [y]
    if np.array_equal(inside, divisor):
        return [y]
    return [b.one("Mul", [y, b.const((inside / divisor).astype(np.float32))])]


def _adaptive_avg_onnx(b, inputs, attrs, in_metas, out_metas):
    """GlobalAveragePool for (1, 1); AveragePool when the sizes divide; else the mean of each
    window [floor(i*H/OH), ceil((i+1)*H/OH)), rows then columns (a mean of means: exact)."""
    x = inputs[0]
    oh, ow = attrs["output_size"]
    if (oh, ow) == (1, 1):
        return [b.one("GlobalAveragePool", [x])]
    b.require_static(0, (2, 3), "adaptive pooling windows are computed from the spatial size")
    h, w = in_metas[0].shape[2:]
    if h % oh == 0 and w % ow == 0:
        return [b.one("AveragePool", [x], kernel_shape=[h // oh, w // ow],
                      strides=[h // oh, w // ow])]
    for axis, size, out in ((2, h, oh), (3, w, ow)):
        parts = []
        for i in range(out):
            lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
            window = b.one("Slice", [x, b.i64([lo]), b.i64([hi]), b.i64([axis])])
            parts.append(b.reduce("ReduceMean", window, [axis], True))
        x = b.one("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]
    return [x]


max_pool2d_backward = register(OpDef(
    name="max_pool2d_backward", inputs=("grad", "indices"),
    infer=_grad_infer("max_pool2d_backward"), kernel="max_pool2d_backward",
    grad=None, attrs={"input_size": (1, 1)}, onnx_unsupported=BACKWARD,
    doc="scatter-adds grad to the input positions in indices; not differentiable twice here",
))
max_pool2d = register(OpDef(
    name="max_pool2d", inputs=("input",), infer=_max_infer, kernel="max_pool2d", grad=_max_grad,
    attrs=dict(_POOL), num_outputs=2, saves_inputs=False, saves_output=True,
    onnx=_max_pool_onnx,
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
    attrs=dict(_AVG), saves_inputs=False, onnx=_avg_pool_onnx,
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
    attrs={"output_size": (1, 1)}, saves_inputs=False, onnx=_adaptive_avg_onnx,
    doc="mean over windows [floor(i*H/OH), ceil((i+1)*H/OH))",
))
