"""GPU implementations of the nn family (unified/ops/nn.py): softmax/log_softmax (max-shifted),
batch_norm and layer_norm (float32 statistics; training batch norm uses the biased variance),
their backward ops, topk (a stable sort: ties keep index order, NaN ranks above every number)
and one_hot."""

from __future__ import annotations

import math

import numpy as np

from unified.ops.gpu._table import gpu, host, quiet, scatter_add

_F32 = np.float32


def _as_1d(x):
    return x.reshape(1) if x.ndim == 0 else x


def _softmax_parts(xp, x, dim):
    x1 = _as_1d(x)
    d = dim % x1.ndim
    shifted = x1 - xp.max(x1, axis=d, keepdims=True)
    return shifted, d


@gpu("softmax")
def softmax(xp, x, dim):
    shifted, d = _softmax_parts(xp, x, dim)
    e = xp.exp(shifted)
    return (e / xp.sum(e, axis=d, keepdims=True)).reshape(x.shape)


@gpu("log_softmax")
def log_softmax(xp, x, dim):
    shifted, d = _softmax_parts(xp, x, dim)
    with quiet(xp):
        return (shifted - xp.log(xp.sum(xp.exp(shifted), axis=d, keepdims=True))).reshape(x.shape)


@gpu("softmax_backward")
def softmax_backward(xp, g, y, dim):
    g1, y1 = _as_1d(g), _as_1d(y)
    d = dim % g1.ndim
    return (y1 * (g1 - xp.sum(g1 * y1, axis=d, keepdims=True))).reshape(g.shape)


@gpu("log_softmax_backward")
def log_softmax_backward(xp, g, y, dim):
    g1, y1 = _as_1d(g), _as_1d(y)
    d = dim % g1.ndim
    return (g1 - xp.exp(y1) * xp.sum(g1, axis=d, keepdims=True)).reshape(g.shape)


def _channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batch_stats(xp, x):
    axes = (0,) + tuple(range(2, x.ndim))
    count = math.prod(x.shape[a] for a in axes)
    mean = xp.sum(x, axis=axes, dtype=_F32) / _F32(count)
    centered = x - _channel(mean, x.ndim)
    var = xp.sum(centered * centered, axis=axes, dtype=_F32) / _F32(count)
    return mean, var, axes


@gpu("batch_norm")
def batch_norm(xp, x, running_mean, running_var, weight, bias, training, eps):
    if training:
        mean, var, _ = _batch_stats(xp, x)
    else:
        mean, var = xp.array(running_mean, copy=True), xp.array(running_var, copy=True)
    rstd = _F32(1.0) / xp.sqrt(var + _F32(eps))
    scale = _channel(weight * rstd, x.ndim)
    y = (x - _channel(mean, x.ndim)) * scale + _channel(bias, x.ndim)
    return y, mean, var


@gpu("batch_norm_backward")
def batch_norm_backward(xp, g, x, weight, mean, var, training, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    count = math.prod(x.shape[a] for a in axes)
    rstd = _F32(1.0) / xp.sqrt(var + _F32(eps))
    xhat = (x - _channel(mean, x.ndim)) * _channel(rstd, x.ndim)
    gb = xp.sum(g, axis=axes, dtype=_F32)
    gw = xp.sum(g * xhat, axis=axes, dtype=_F32)
    if training:
        inner = g - _channel(gb / _F32(count), x.ndim) - xhat * _channel(gw / _F32(count), x.ndim)
        gx = inner * _channel(weight * rstd, x.ndim)
    else:
        gx = g * _channel(weight * rstd, x.ndim)
    return gx, gw, gb


def _norm_axes(x, normalized_shape):
    return tuple(range(x.ndim - len(normalized_shape), x.ndim))


@gpu("layer_norm")
def layer_norm(xp, x, weight, bias, normalized_shape, eps):
    axes = _norm_axes(x, normalized_shape)
    count = _F32(math.prod(normalized_shape))
    mean = xp.sum(x, axis=axes, keepdims=True, dtype=_F32) / count
    centered = x - mean
    var = xp.sum(centered * centered, axis=axes, keepdims=True, dtype=_F32) / count
    rstd = _F32(1.0) / xp.sqrt(var + _F32(eps))
    return centered * rstd * weight + bias, mean, rstd


@gpu("layer_norm_backward")
def layer_norm_backward(xp, g, x, weight, mean, rstd, normalized_shape):
    axes = _norm_axes(x, normalized_shape)
    lead = tuple(range(x.ndim - len(normalized_shape)))
    count = _F32(math.prod(normalized_shape))
    xhat = (x - mean) * rstd
    gw = xp.sum(g * xhat, axis=lead, dtype=_F32)
    gb = xp.sum(g, axis=lead, dtype=_F32)
    gxhat = g * weight
    mean_g = xp.sum(gxhat, axis=axes, keepdims=True, dtype=_F32) / count
    mean_gx = xp.sum(gxhat * xhat, axis=axes, keepdims=True, dtype=_F32) / count
    return rstd * (gxhat - mean_g - xhat * mean_gx), gw, gb


def _stable_argsort(xp, keys, axis):
    if xp is np:
        return np.argsort(keys, axis=axis, kind="stable")
    return xp.argsort(keys, axis=axis)  # CuPy sorts with CUB's radix sort, which is stable


@gpu("topk")
def topk(xp, x, k, dim, largest):
    x1 = _as_1d(x)
    d = dim % x1.ndim
    if x1.dtype.kind == "f":
        nan = xp.isnan(x1)
        keys = xp.where(nan, _F32(np.inf), x1)
        if largest:
            keys = -keys
        order = _stable_argsort(xp, keys, d)
        if largest:  # NaN first, then the rest in order (a stable partition)
            nan_first = _stable_argsort(xp, ~xp.take_along_axis(nan, order, axis=d), d)
            order = xp.take_along_axis(order, nan_first, axis=d)
    else:
        order = _stable_argsort(xp, -x1.astype(np.int64) if largest else x1, d)
    index = xp.take(order, xp.arange(k), axis=d).astype(np.int64)
    values = xp.take_along_axis(x1, index, axis=d)
    if x.ndim == 0:
        return values.reshape(()), index.reshape(())
    return values, index


@gpu("topk_backward")
def topk_backward(xp, g, indices, dim, dim_size):
    if g.ndim == 0:
        return xp.array(g, copy=True)
    d = dim % g.ndim
    shape = list(g.shape)
    shape[d] = dim_size
    out = xp.zeros(tuple(shape), _F32)
    key = []
    for i, n in enumerate(g.shape):
        if i == d:
            key.append(indices)
        else:
            axis_shape = [1] * g.ndim
            axis_shape[i] = n
            key.append(xp.arange(n).reshape(axis_shape))
    scatter_add(xp, out, tuple(key), g)
    return out


@gpu("one_hot")
def one_hot(xp, x, num_classes):
    if x.size and bool(xp.logical_or(x < 0, x >= num_classes).any()):
        bad = int(host(x[xp.logical_or(x < 0, x >= num_classes)].ravel()[:1])[0])
        raise IndexError(f"one_hot: class {bad} is out of range for num_classes={num_classes}")
    return (x[..., None] == xp.arange(num_classes)).astype(np.int64)
