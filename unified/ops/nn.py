"""nn ops: softmax/log_softmax, batch_norm, layer_norm, topk, one_hot, and the backward op of
each differentiable one. Kernels: core_cpp/kernels/nn.cpp and nn_norm.cpp (the norm kernels take
contiguous tensors; functional/norm.py passes them so). Python wrappers: functional/norm.py and
functional/selection.py."""

from __future__ import annotations

import math

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops import infer
from unified.ops.registry import F, OpDef, TensorMeta, register

F32 = infer.F32
I64 = np.dtype(np.int64)
BACKWARD = "backward ops are not exported"


# ---- softmax and log_softmax -------------------------------------------------------------------
def _softmax_infer(op: str):
    def infer_fn(x, dim):
        infer.require_float(op, x)
        infer.normalize_axis(op, dim, len(x.shape))
        return TensorMeta(tuple(x.shape), F32)

    return infer_fn


def _softmax_backward_infer(op: str):
    def infer_fn(g, out, dim):
        infer.require_float(op, g, "grad")
        if tuple(g.shape) != tuple(out.shape):
            raise ShapeError(f"{op}: grad {fmt_shape(g.shape)} and output {fmt_shape(out.shape)} "
                             "differ")
        infer.normalize_axis(op, dim, len(g.shape))
        return TensorMeta(tuple(g.shape), F32)

    return infer_fn


def _softmax_backward_grad(gg, g, y, out, dim):
    # gx = y * (g - s), s = sum(g * y): d/dg = softmax_backward(gg, y),
    # d/dy = gg * (g - s) - g * sum(gg * y)
    s = F.sum(F.mul(g, y), dim, keepdim=True)
    t = F.sum(F.mul(gg, y), dim, keepdim=True)
    dy = F.sub(F.mul(gg, F.sub(g, s)), F.mul(g, t))
    return F.call_op(softmax_backward, gg, y, dim=dim), dy


def _log_softmax_backward_grad(gg, g, y, out, dim):
    # gx = g - exp(y) * sum(g): d/dg = gg - sum(gg * exp(y)), d/dy = -gg * exp(y) * sum(g)
    e = F.exp(y)
    dg = F.sub(gg, F.sum(F.mul(gg, e), dim, keepdim=True))
    dy = F.neg(F.mul(F.mul(gg, e), F.sum(g, dim, keepdim=True)))
    return dg, dy


softmax_backward = register(OpDef(
    name="softmax_backward", inputs=("grad", "output"),
    infer=_softmax_backward_infer("softmax_backward"), kernel="softmax_backward",
    grad=_softmax_backward_grad, attrs={"dim": -1}, onnx_unsupported=BACKWARD,
    doc="y * (g - sum(g * y, dim)), y = softmax(x, dim)",
))
log_softmax_backward = register(OpDef(
    name="log_softmax_backward", inputs=("grad", "output"),
    infer=_softmax_backward_infer("log_softmax_backward"), kernel="log_softmax_backward",
    grad=_log_softmax_backward_grad, attrs={"dim": -1}, onnx_unsupported=BACKWARD,
    doc="g - exp(y) * sum(g, dim), y = log_softmax(x, dim)",
))
def _axis_onnx(op_type: str):
    """Softmax/LogSoftmax along dim (a 0-d input as one element)."""
    def lower(b, inputs, attrs, in_metas, out_metas):
        ndim = len(in_metas[0].shape)
        if ndim == 0:
            return [b.reshape(b.one(op_type, [b.reshape(inputs[0], [1])], axis=0), [])]
        return [b.one(op_type, inputs, axis=attrs["dim"] % ndim)]

    return lower


softmax = register(OpDef(
    name="softmax", inputs=("input",), infer=_softmax_infer("softmax"), kernel="softmax",
    grad=lambda g, x, out, dim: F.call_op(softmax_backward, g, out, dim=dim),
    attrs={"dim": -1}, saves_inputs=False, saves_output=True, onnx=_axis_onnx("Softmax"),
    doc="exp(x - max) / sum(exp(x - max)) along dim",
))
log_softmax = register(OpDef(
    name="log_softmax", inputs=("input",), infer=_softmax_infer("log_softmax"),
    kernel="log_softmax",
    grad=lambda g, x, out, dim: F.call_op(log_softmax_backward, g, out, dim=dim),
    attrs={"dim": -1}, saves_inputs=False, saves_output=True,
    onnx=_axis_onnx("LogSoftmax"),
    doc="x - max - log(sum(exp(x - max))) along dim",
))


# ---- batch_norm ---------------------------------------------------------------------------------
def _channel_vectors(op: str, x, named: dict) -> int:
    infer.require_float(op, x)
    if len(x.shape) < 2:
        raise ShapeError(f"{op}: input must be (N, C) or (N, C, ...), got {fmt_shape(x.shape)}")
    channels = x.shape[1]
    for role, v in named.items():
        infer.require_float(op, v, role)
        if tuple(v.shape) != (channels,):
            raise ShapeError(f"{op}: {role} has shape {fmt_shape(v.shape)} but the input has "
                             f"{channels} channels (input {fmt_shape(x.shape)})")
    return channels


def _batch_norm_infer(x, running_mean, running_var, weight, bias, training, eps):
    channels = _channel_vectors("batch_norm", x, {
        "running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias})
    per_channel = math.prod(x.shape) // channels if channels else 0
    if training and per_channel <= 1:
        raise ShapeError(f"batch_norm: expected more than 1 value per channel when training, got "
                         f"input {fmt_shape(x.shape)}")
    stats = TensorMeta((channels,), F32)
    return TensorMeta(tuple(x.shape), F32), stats, stats


def _batch_norm_backward_infer(g, x, weight, mean, var, training, eps):
    channels = _channel_vectors("batch_norm_backward", x, {
        "weight": weight, "mean": mean, "var": var})
    if tuple(g.shape) != tuple(x.shape):
        raise ShapeError(f"batch_norm_backward: grad {fmt_shape(g.shape)} and input "
                         f"{fmt_shape(x.shape)} differ")
    vec = TensorMeta((channels,), F32)
    return TensorMeta(tuple(x.shape), F32), vec, vec


def _batch_norm_grad(g, x, running_mean, running_var, weight, bias, out, training, eps):
    # out = (y, mean, var); gradients reach x, weight and bias through y only (the statistics
    # outputs feed the running-estimate update, which is not differentiated)
    if g[0] is None:
        return None, None, None, None, None
    gx, gw, gb = F.call_op(batch_norm_backward, g[0].contiguous(), x, weight, out[1], out[2],
                           training=training, eps=eps)
    return gx, None, None, gw, gb


batch_norm_backward = register(OpDef(
    name="batch_norm_backward", inputs=("grad", "input", "weight", "mean", "var"),
    infer=_batch_norm_backward_infer, kernel="batch_norm_backward", num_outputs=3,
    grad=None, attrs={"training": 0, "eps": 1e-5}, onnx_unsupported=BACKWARD,
    doc="(grad_input, grad_weight, grad_bias); not differentiable again",
))
def _batch_norm_onnx(b, inputs, attrs, in_metas, out_metas):
    """Inference BatchNormalization with the running statistics (the mean/var outputs are
    those, as in the kernel); training=1 (a graph that keeps no running statistics) computes
    the batch's mean and biased variance per channel with the same formula."""
    x, running_mean, running_var, weight, bias = inputs
    if not attrs["training"]:
        y = b.one("BatchNormalization", [x, weight, bias, running_mean, running_var],
                  epsilon=float(attrs["eps"]))
        return [y, running_mean, running_var]
    ndim = len(in_metas[0].shape)
    axes = [0] + list(range(2, ndim))
    mean = b.reduce("ReduceMean", x, axes, True)
    centered = b.one("Sub", [x, mean])
    var = b.reduce("ReduceMean", b.one("Mul", [centered, centered]), axes, True)
    rstd = b.one("Reciprocal", [b.one("Sqrt", [b.one("Add", [var, b.scalar(attrs["eps"], F32)])])])
    channel = [-1] + [1] * (ndim - 2)  # weight/bias (C,) against (N, C, ...)
    y = b.one("Add", [b.one("Mul", [b.one("Mul", [centered, rstd]), b.reshape(weight, channel)]),
                      b.reshape(bias, channel)])
    return [y, b.reshape(mean, [-1]), b.reshape(var, [-1])]


batch_norm = register(OpDef(
    name="batch_norm", inputs=("input", "running_mean", "running_var", "weight", "bias"),
    infer=_batch_norm_infer, kernel="batch_norm", grad=_batch_norm_grad, num_outputs=3,
    attrs={"training": 0, "eps": 1e-5}, saves_output=True, onnx=_batch_norm_onnx,
    doc="(y, mean, var): y = (x - mean) / sqrt(var + eps) * weight + bias per channel; "
        "training=1 uses the batch's mean and biased var, else the running ones",
))


# ---- layer_norm ---------------------------------------------------------------------------------
def _rows(op: str, x, normalized_shape) -> tuple:
    infer.require_float(op, x)
    k = len(normalized_shape)
    if k == 0 or k > len(x.shape) or tuple(x.shape[len(x.shape) - k:]) != tuple(normalized_shape):
        raise ShapeError(f"{op}: normalized_shape {tuple(normalized_shape)} expects input of shape "
                         f"(*, {', '.join(map(str, normalized_shape))}), got {fmt_shape(x.shape)}")
    return tuple(x.shape[:len(x.shape) - k]) + (1,) * k


def _affine(op: str, normalized_shape, named: dict) -> None:
    for role, v in named.items():
        infer.require_float(op, v, role)
        if tuple(v.shape) != tuple(normalized_shape):
            raise ShapeError(f"{op}: {role} has shape {fmt_shape(v.shape)}, expected "
                             f"normalized_shape {tuple(normalized_shape)}")


def _layer_norm_infer(x, weight, bias, normalized_shape, eps):
    stats = _rows("layer_norm", x, normalized_shape)
    _affine("layer_norm", normalized_shape, {"weight": weight, "bias": bias})
    return TensorMeta(tuple(x.shape), F32), TensorMeta(stats, F32), TensorMeta(stats, F32)


def _layer_norm_backward_infer(g, x, weight, mean, rstd, normalized_shape):
    stats = _rows("layer_norm_backward", x, normalized_shape)
    _affine("layer_norm_backward", normalized_shape, {"weight": weight})
    if tuple(g.shape) != tuple(x.shape) or tuple(mean.shape) != stats or tuple(rstd.shape) != stats:
        raise ShapeError(f"layer_norm_backward: grad {fmt_shape(g.shape)}, input "
                         f"{fmt_shape(x.shape)}, mean {fmt_shape(mean.shape)} and rstd "
                         f"{fmt_shape(rstd.shape)} do not fit")
    vec = TensorMeta(tuple(normalized_shape), F32)
    return TensorMeta(tuple(x.shape), F32), vec, vec


def _layer_norm_grad(g, x, weight, bias, out, normalized_shape, eps):
    if g[0] is None:
        return None, None, None
    return F.call_op(layer_norm_backward, g[0].contiguous(), x, weight, out[1], out[2],
                     normalized_shape=normalized_shape)


layer_norm_backward = register(OpDef(
    name="layer_norm_backward", inputs=("grad", "input", "weight", "mean", "rstd"),
    infer=_layer_norm_backward_infer, kernel="layer_norm_backward", num_outputs=3, grad=None,
    attrs={"normalized_shape": ()}, onnx_unsupported=BACKWARD,
    doc="(grad_input, grad_weight, grad_bias); not differentiable again",
))
def _layer_norm_onnx(b, inputs, attrs, in_metas, out_metas):
    """LayerNormalization (opset 17+: Y, Mean, InvStdDev as our outputs), or its formula."""
    x, weight, bias = inputs
    k = len(attrs["normalized_shape"])
    eps = float(attrs["eps"])
    if b.opset >= 17:
        return b.op("LayerNormalization", [x, weight, bias], 3, axis=-k, epsilon=eps)
    axes = list(range(len(in_metas[0].shape) - k, len(in_metas[0].shape)))
    mean = b.reduce("ReduceMean", x, axes, True)
    centered = b.one("Sub", [x, mean])
    var = b.reduce("ReduceMean", b.one("Mul", [centered, centered]), axes, True)
    rstd = b.one("Reciprocal", [b.one("Sqrt", [b.one("Add", [var, b.scalar(eps, F32)])])])
    y = b.one("Add", [b.one("Mul", [b.one("Mul", [centered, rstd]), weight]), bias])
    return [y, mean, rstd]


layer_norm = register(OpDef(
    name="layer_norm", inputs=("input", "weight", "bias"), infer=_layer_norm_infer,
    kernel="layer_norm", grad=_layer_norm_grad, num_outputs=3,
    attrs={"normalized_shape": (), "eps": 1e-5}, saves_output=True, onnx=_layer_norm_onnx,
    doc="(y, mean, rstd) over the trailing normalized_shape dims (ONNX's output order)",
))


# ---- topk and one_hot ---------------------------------------------------------------------------
def _topk_infer(x, k, dim, largest):
    if x.dtype not in (F32, np.dtype(np.int32), I64):
        raise DTypeError(f"topk: input must be float32, int32 or int64, got {x.dtype}")
    axis = infer.normalize_axis("topk", dim, len(x.shape))
    size = x.shape[axis] if len(x.shape) else 1
    if not 0 <= k <= size:
        raise ShapeError(f"topk: k={k} is out of range for dim {dim} of size {size} "
                         f"(input {fmt_shape(x.shape)})")
    shape = tuple(x.shape)
    if shape:
        shape = shape[:axis] + (k,) + shape[axis + 1:]
    return TensorMeta(shape, x.dtype), TensorMeta(shape, I64)


def _topk_backward_infer(g, indices, dim, dim_size):
    infer.require_float("topk_backward", g, "grad")
    if indices.dtype != I64 or tuple(indices.shape) != tuple(g.shape):
        raise ShapeError(f"topk_backward: indices {fmt_shape(indices.shape)} {indices.dtype} must "
                         f"be int64 of the grad's shape {fmt_shape(g.shape)}")
    axis = infer.normalize_axis("topk_backward", dim, len(g.shape))
    shape = tuple(g.shape)
    if shape:
        shape = shape[:axis] + (dim_size,) + shape[axis + 1:]
    return TensorMeta(shape, F32)


def _topk_grad(g, x, out, k, dim, largest):
    if g[0] is None:
        return (None,)
    size = x.shape[dim] if x.ndim else 1
    return (F.call_op(topk_backward, g[0], out[1], dim=dim, dim_size=size),)


topk_backward = register(OpDef(
    name="topk_backward", inputs=("grad", "indices"), infer=_topk_backward_infer,
    kernel="topk_backward", attrs={"dim": -1, "dim_size": 0}, onnx_unsupported=BACKWARD,
    grad=lambda gg, g, indices, out, dim, dim_size: (F.gather(gg, dim, indices), None),
    doc="zeros of the input's shape with grad added at indices along dim (scatter-add)",
))
def _topk_onnx(b, inputs, attrs, in_metas, out_metas):
    """TopK, sorted; ties keep index order in both (ONNX: the lower index first)."""
    x = inputs[0]
    ndim = len(in_metas[0].shape)
    if ndim == 0:
        x = b.reshape(x, [1])
    values, indices = b.op("TopK", [x, b.i64([attrs["k"]])], 2, axis=attrs["dim"] % max(ndim, 1),
                           largest=int(attrs["largest"]), sorted=1)
    if ndim == 0:
        values, indices = b.reshape(values, []), b.reshape(indices, [])
    return [values, indices]


topk = register(OpDef(
    name="topk", inputs=("input",), infer=_topk_infer, kernel="topk", grad=_topk_grad,
    num_outputs=2, attrs={"k": 1, "dim": -1, "largest": 1}, saves_inputs=False,
    saves_output=True, onnx=_topk_onnx,
    doc="(values, indices int64) of the k largest (or smallest) along dim, best first; "
        "ties keep index order, NaN ranks above every number",
))


def _one_hot_infer(x, num_classes):
    infer.require_index("one_hot", x, "input")
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be >= 0 here, got {num_classes}")
    return TensorMeta(tuple(x.shape) + (num_classes,), I64)


def _one_hot_onnx(b, x, num_classes: int, meta) -> str:
    """OneHot on int64 indices (onnxruntime has no int32 kernel), values (0, 1) in int64."""
    if meta.dtype != I64:
        x = b.cast(x, I64)
    if not meta.shape:
        x = b.reshape(x, [1])
    y = b.one("OneHot", [x, b.i64([num_classes]), b.i64([0, 1])], axis=-1)
    return b.reshape(y, [num_classes]) if not meta.shape else y


one_hot = register(OpDef(
    name="one_hot", inputs=("input",), infer=_one_hot_infer, kernel="one_hot", grad=None,
    attrs={"num_classes": -1}, onnx=lambda b, inputs, attrs, in_metas, out_metas: [_one_hot_onnx(
        b, inputs[0], attrs["num_classes"], in_metas[0])],
    doc="int64 of shape input.shape + (num_classes,); out-of-range classes are an IndexError",
))
