"""GPU implementations of the reduction family (unified/ops/reduce.py): sum, mean, max, min,
argmax, argmin, var, logsumexp, all, any over the sorted dims in `dims`, with `keepdim`.
CuPy runs them as CUB/cuTENSOR-style reduction kernels; float32 accumulates in float32."""

from __future__ import annotations

import math

import numpy as np

from unified.ops.gpu._table import gpu, quiet

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)


def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


@gpu("sum")
def sum_(xp, x, dims, keepdim):
    dtype = _F32 if x.dtype == _F32 else _I64
    return xp.sum(x, axis=tuple(dims), keepdims=bool(keepdim), dtype=dtype)


@gpu("mean")
def mean(xp, x, dims, keepdim):
    count = math.prod(x.shape[d] for d in dims)
    total = xp.sum(x, axis=tuple(dims), keepdims=bool(keepdim), dtype=_F32)
    with quiet(xp):
        return total / np.float32(count)


@gpu("max")
def max_(xp, x, dims, keepdim):
    return xp.array(xp.max(x, axis=tuple(dims), keepdims=bool(keepdim)), copy=True)


@gpu("min")
def min_(xp, x, dims, keepdim):
    return xp.array(xp.min(x, axis=tuple(dims), keepdims=bool(keepdim)), copy=True)


def _arg(pick):
    def run(xp, x, dims, keepdim):
        dims = tuple(dims)
        rest = [d for d in range(x.ndim) if d not in dims]
        if not dims:
            return xp.zeros(x.shape, _I64)
        moved = xp.transpose(x, rest + list(dims))
        merged = moved.reshape(tuple(x.shape[d] for d in rest) + (
            math.prod(x.shape[d] for d in dims),))
        index = getattr(xp, pick)(merged, axis=-1).astype(_I64)
        return index.reshape(_keep_shape(x.shape, dims)) if keepdim else index

    return run


gpu("argmax")(_arg("argmax"))
gpu("argmin")(_arg("argmin"))


@gpu("var")
def var(xp, x, dims, keepdim, correction):
    dims = tuple(dims)
    count = math.prod(x.shape[d] for d in dims)
    with quiet(xp):
        centered = x - xp.sum(x, axis=dims, keepdims=True, dtype=_F32) / np.float32(count)
        squares = xp.sum(centered * centered, axis=dims, keepdims=bool(keepdim), dtype=_F32)
        return squares / np.float32(max(count - correction, 0.0))


@gpu("logsumexp")
def logsumexp(xp, x, dims, keepdim):
    dims = tuple(dims)
    out_shape = tuple(s for i, s in enumerate(x.shape) if i not in dims)
    if math.prod(x.shape[d] for d in dims) == 0:  # log of an empty sum
        return xp.full(_keep_shape(x.shape, dims) if keepdim else out_shape, -np.inf, _F32)
    top = xp.max(x, axis=dims, keepdims=True)
    finite = xp.where(xp.isinf(top), np.float32(0.0), top)
    with quiet(xp):
        y = xp.log(xp.sum(xp.exp(x - finite), axis=dims, keepdims=True, dtype=_F32)) + finite
    return y if keepdim else y.reshape(out_shape)


@gpu("all")
def all_(xp, x, dims, keepdim):
    return xp.all(x != 0, axis=tuple(dims), keepdims=bool(keepdim))


@gpu("any")
def any_(xp, x, dims, keepdim):
    return xp.any(x != 0, axis=tuple(dims), keepdims=bool(keepdim))
