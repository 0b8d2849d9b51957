"""GPU implementations of the index family (unified/ops/index.py): advanced indexing and its
put/accumulate and backward forms, index_select, gather, embedding, masked_fill. Indices are
checked against their dimension first (CuPy does not check: one flag is read back), so a bad
index is the same IndexError as on the CPU; repeated positions accumulate (ufunc.at)."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import check_index, gpu, scatter_add, wrap_index


def _key(op, xp, shape, indices, dims):
    key = [slice(None)] * len(shape)
    for d, idx in zip(dims, indices):
        check_index(op, xp, idx, shape[d])
        key[d] = wrap_index(xp, idx, shape[d])
    return tuple(key)


@gpu("index")
def index(xp, x, *indices, dims):
    return xp.array(x[_key("index", xp, x.shape, indices, dims)], copy=True)


@gpu("index_backward")
def index_backward(xp, g, *indices, shape, dims):
    out = xp.zeros(tuple(shape), g.dtype)
    scatter_add(xp, out, _key("index_backward", xp, tuple(shape), indices, dims), g)
    return out


@gpu("index_put")
def index_put(xp, x, values, *indices, dims, accumulate):
    out = xp.array(x, copy=True, order="C")
    key = _key("index_put", xp, x.shape, indices, dims)
    if accumulate:
        scatter_add(xp, out, key, values)
    else:
        out[key] = values
    return out


@gpu("index_select")
def index_select(xp, x, idx, dim):
    if x.ndim == 0:
        check_index("index_select", xp, idx, 1)
        return xp.array(x, copy=True)
    d = dim % x.ndim
    check_index("index_select", xp, idx, x.shape[d])
    return xp.take(x, wrap_index(xp, idx.reshape(-1), x.shape[d]), axis=d)


def _gather_key(xp, idx, d):
    """Index arrays selecting idx's positions, with idx itself on dim d."""
    key = []
    for i, n in enumerate(idx.shape):
        if i == d:
            key.append(idx)
        else:
            shape = [1] * idx.ndim
            shape[i] = n
            key.append(xp.arange(n).reshape(shape))
    return tuple(key)


@gpu("gather")
def gather(xp, x, idx, dim):
    d = dim % max(x.ndim, 1)
    if x.ndim == 0:
        check_index("gather", xp, idx, 1)
        return xp.array(x, copy=True)
    check_index("gather", xp, idx, x.shape[d])
    return x[_gather_key(xp, wrap_index(xp, idx, x.shape[d]), d)]


@gpu("gather_backward")
def gather_backward(xp, g, idx, shape, dim):
    out = xp.zeros(tuple(shape), g.dtype)
    if not shape:
        return out + g.sum()
    d = dim % len(shape)
    check_index("gather_backward", xp, idx, shape[d])
    scatter_add(xp, out, _gather_key(xp, wrap_index(xp, idx, shape[d]), d), g)
    return out


@gpu("embedding")
def embedding(xp, ids, weight, padding_idx):
    check_index("embedding", xp, ids, weight.shape[0], "id")
    return xp.take(weight, wrap_index(xp, ids, weight.shape[0]), axis=0)


@gpu("embedding_backward")
def embedding_backward(xp, g, ids, num_weights, padding_idx):
    check_index("embedding_backward", xp, ids, num_weights, "id")
    dim = g.shape[-1]
    out = xp.zeros((int(num_weights), dim), g.dtype)
    flat = wrap_index(xp, ids.reshape(-1), num_weights)
    scatter_add(xp, out, flat, g.reshape(-1, dim))
    if padding_idx >= 0:
        out[padding_idx] = 0
    return out


@gpu("masked_fill")
def masked_fill(xp, x, mask, value):
    return xp.where(mask, xp.asarray(np.asarray(value, x.dtype)), x)
