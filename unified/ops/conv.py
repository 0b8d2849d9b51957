"""2-D convolution ops (NCHW): conv2d, its gradient ops conv2d_backward_input and
conv2d_backward_weight, and conv_transpose2d. Kernels: core_cpp/kernels/conv.cpp (im2col +
Eigen GEMM). Pooling ops are in pool.py and resizing in interpolate.py (imported below);
users call them through unified/functional/conv.py."""

from __future__ import annotations


from unified.errors import ShapeError, fmt_shape
from unified.ops.infer import F32, require_float
from unified.ops.registry import F, OpDef, TensorMeta, register

BACKWARD = "backward ops are not exported"
_CONV_ATTRS = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}


def conv_out_size(op: str, size: int, pad_total: int, kernel: int, stride: int, dilation: int,
                  what: str) -> int:
    """Output length of one spatial axis; ShapeError when the kernel exceeds the padded input."""
    if stride < 1 or dilation < 1 or pad_total < 0:
        raise ShapeError(f"{op}: stride {stride} and dilation {dilation} must be >= 1 and "
                         f"padding {pad_total} >= 0 ({what})")
    effective = dilation * (kernel - 1) + 1
    if size + pad_total < effective:
        raise ShapeError(f"{op}: kernel size {kernel} (dilation {dilation}) is larger than the "
                         f"padded input size {size + pad_total} ({what})")
    return (size + pad_total - effective) // stride + 1


def _check_4d(op: str, **metas) -> None:
    for role, m in metas.items():
        require_float(op, m, role)
        if len(m.shape) != 4:
            raise ShapeError(f"{op}: {role} must be 4-D, got {fmt_shape(m.shape)}")


def _conv_shape(op, x, w, stride, padding, dilation, groups) -> tuple[int, ...]:
    """(N, O, OH, OW) of conv2d(x, w); names both shapes when they do not fit."""
    _check_4d(op, input=x, weight=w)
    what = f"input {fmt_shape(x.shape)}, weight {fmt_shape(w.shape)}"
    if groups < 1 or w.shape[0] % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the weight's {w.shape[0]} output "
                         f"channels ({what})")
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(f"{op}: input has {x.shape[1]} channels but weight expects "
                         f"{w.shape[1] * groups} ({what})")
    what += f", stride {tuple(stride)}, padding {tuple(padding)}, dilation {tuple(dilation)}"
    oh = conv_out_size(op, x.shape[2], padding[0] + padding[2], w.shape[2], stride[0],
                       dilation[0], what)
    ow = conv_out_size(op, x.shape[3], padding[1] + padding[3], w.shape[3], stride[1],
                       dilation[1], what)
    return (x.shape[0], w.shape[0], oh, ow)


def _conv2d_infer(x, w, b, stride, padding, dilation, groups):
    shape = _conv_shape("conv2d", x, w, stride, padding, dilation, groups)
    if tuple(b.shape) != (w.shape[0],):
        raise ShapeError(f"conv2d: bias must have shape ({w.shape[0]},), got {fmt_shape(b.shape)}")
    return TensorMeta(shape, F32)




def _needs(t) -> bool:
    return getattr(t, "requires_grad", True)


def _conv2d_grad(g, x, w, b, out, stride, padding, dilation, groups):
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    gx = gw = gb = None
    if _needs(x):
        gx = F.call_op(conv2d_backward_input, g, w, input_size=tuple(x.shape[2:]), **attrs)
    if _needs(w):
        gw = F.call_op(conv2d_backward_weight, g, x, weight_size=tuple(w.shape[2:]), **attrs)
    if _needs(b):
        gb = F.sum(g, (0, 2, 3))
    return gx, gw, gb


def _conv2d_onnx(b, inputs, attrs, in_metas, out_metas):
    """Conv; our padding (top, left, bottom, right) is ONNX's pads order."""
    return [b.one("Conv", inputs, kernel_shape=list(in_metas[1].shape[2:]),
                  strides=list(attrs["stride"]), pads=list(attrs["padding"]),
                  dilations=list(attrs["dilation"]), group=int(attrs["groups"]))]


conv2d = register(OpDef(
    name="conv2d", inputs=("input", "weight", "bias"), infer=_conv2d_infer, kernel="conv2d",
    grad=_conv2d_grad, attrs=dict(_CONV_ATTRS), onnx=_conv2d_onnx,
    doc="NCHW convolution; padding is (top, left, bottom, right) as in ONNX's pads",
))


def _backward_input_infer(g, w, stride, padding, dilation, groups, input_size):
    _check_4d("conv2d_backward_input", grad=g, weight=w)
    x = TensorMeta((g.shape[0], w.shape[1] * groups) + tuple(input_size), F32)
    shape = _conv_shape("conv2d_backward_input", x, w, stride, padding, dilation, groups)
    if shape != tuple(g.shape):
        raise ShapeError(f"conv2d_backward_input: grad {fmt_shape(g.shape)} does not match the "
                         f"conv2d output {fmt_shape(shape)} of input {fmt_shape(x.shape)}")
    return x


def _backward_input_grad(gg, g, w, out, stride, padding, dilation, groups, input_size):
    """Bilinear in (grad, weight): the adjoints are conv2d and conv2d_backward_weight."""
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    g_grad = F.call_op(conv2d, gg, w, F.zero_bias(w.shape[0]), **attrs) if _needs(g) else None
    g_w = (F.call_op(conv2d_backward_weight, g, gg, weight_size=tuple(w.shape[2:]), **attrs)
           if _needs(w) else None)
    return g_grad, g_w


conv2d_backward_input = register(OpDef(
    name="conv2d_backward_input", inputs=("grad", "weight"), infer=_backward_input_infer,
    kernel="conv2d_backward_input", grad=_backward_input_grad,
    attrs=dict(_CONV_ATTRS, input_size=(1, 1)), onnx_unsupported=BACKWARD,
    doc="gradient of conv2d with respect to its input (col2im of weight^T @ grad)",
))


def _backward_weight_infer(g, x, stride, padding, dilation, groups, weight_size):
    _check_4d("conv2d_backward_weight", grad=g, input=x)
    if groups < 1 or x.shape[1] % groups:
        raise ShapeError(f"conv2d_backward_weight: groups={groups} must divide the input's "
                         f"{x.shape[1]} channels (input {fmt_shape(x.shape)})")
    w = TensorMeta((g.shape[1], x.shape[1] // groups) + tuple(weight_size), F32)
    shape = _conv_shape("conv2d_backward_weight", x, w, stride, padding, dilation, groups)
    if shape != tuple(g.shape):
        raise ShapeError(f"conv2d_backward_weight: grad {fmt_shape(g.shape)} does not match the "
                         f"conv2d output {fmt_shape(shape)} of input {fmt_shape(x.shape)}")
    return w


def _backward_weight_grad(gg, g, x, out, stride, padding, dilation, groups, weight_size):
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    g_grad = F.call_op(conv2d, x, gg, F.zero_bias(gg.shape[0]), **attrs) if _needs(g) else None
    g_x = (F.call_op(conv2d_backward_input, g, gg, input_size=tuple(x.shape[2:]), **attrs)
           if _needs(x) else None)
    return g_grad, g_x


conv2d_backward_weight = register(OpDef(
    name="conv2d_backward_weight", inputs=("grad", "input"), infer=_backward_weight_infer,
    kernel="conv2d_backward_weight", grad=_backward_weight_grad,
    attrs=dict(_CONV_ATTRS, weight_size=(1, 1)), onnx_unsupported=BACKWARD,
    doc="gradient of conv2d with respect to its weight (grad @ im2col(input)^T, summed)",
))


def transpose_out_size(op, size, kernel, stride, padding, output_padding, dilation, what):
    if stride < 1 or dilation < 1 or padding < 0 or output_padding < 0:
        raise ShapeError(f"{op}: stride and dilation must be >= 1, padding and output_padding "
                         f">= 0 ({what})")
    if output_padding >= max(stride, dilation):
        raise ShapeError(f"{op}: output_padding {output_padding} must be smaller than stride "
                         f"{stride} or dilation {dilation} ({what})")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out <= 0:
        raise ShapeError(f"{op}: the output size {out} is not positive ({what})")
    return out


def _transpose_infer(x, w, b, stride, padding, output_padding, groups, dilation):
    op = "conv_transpose2d"
    _check_4d(op, input=x, weight=w)
    what = f"input {fmt_shape(x.shape)}, weight {fmt_shape(w.shape)}"
    if x.shape[1] != w.shape[0]:
        raise ShapeError(f"{op}: input has {x.shape[1]} channels but weight expects "
                         f"{w.shape[0]} ({what})")
    if groups < 1 or w.shape[0] % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the {w.shape[0]} input channels "
                         f"({what})")
    if tuple(b.shape) != (w.shape[1] * groups,):
        raise ShapeError(f"{op}: bias must have shape ({w.shape[1] * groups},), got "
                         f"{fmt_shape(b.shape)}")
    oh, ow = (transpose_out_size(op, x.shape[2 + i], w.shape[2 + i], stride[i], padding[i],
                                 output_padding[i], dilation[i], what) for i in range(2))
    return TensorMeta((x.shape[0], w.shape[1] * groups, oh, ow), F32)


def _transpose_grad(g, x, w, b, out, stride, padding, output_padding, groups, dilation):
    """conv_transpose2d is conv2d_backward_input: its adjoints are conv2d and
    conv2d_backward_weight with the roles of input and output swapped."""
    attrs = {"stride": stride, "padding": tuple(padding) * 2, "dilation": dilation,
             "groups": groups}
    gx = F.call_op(conv2d, g, w, F.zero_bias(w.shape[0]), **attrs) if _needs(x) else None
    gw = (F.call_op(conv2d_backward_weight, x, g, weight_size=tuple(w.shape[2:]), **attrs)
          if _needs(w) else None)
    gb = F.sum(g, (0, 2, 3)) if _needs(b) else None
    return gx, gw, gb


def _conv_transpose2d_onnx(b, inputs, attrs, in_metas, out_metas):
    """ConvTranspose with symmetric pads; weight (C_in, C_out / groups, KH, KW) as in ONNX."""
    return [b.one("ConvTranspose", inputs, kernel_shape=list(in_metas[1].shape[2:]),
                  strides=list(attrs["stride"]), pads=list(attrs["padding"]) * 2,
                  output_padding=list(attrs["output_padding"]),
                  dilations=list(attrs["dilation"]), group=int(attrs["groups"]))]


conv_transpose2d = register(OpDef(
    name="conv_transpose2d", inputs=("input", "weight", "bias"), infer=_transpose_infer,
    kernel="conv_transpose2d", grad=_transpose_grad,
    attrs={"stride": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "groups": 1,
           "dilation": (1, 1)},
    onnx=_conv_transpose2d_onnx,
    doc="the adjoint of conv2d (weight (C_in, C_out / groups, KH, KW)), plus bias",
))

from unified.ops import interpolate, pool  # noqa: E402,F401  (register the rest of the family)
