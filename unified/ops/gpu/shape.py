"""GPU implementations of the shape family (unified/ops/shape.py): the views (reshape, permute,
expand, slice: device views, no copy when the layout allows, as on the CPU) and the copies
(cat, pad in every mode, slice_scatter and the backward ops). pad's non-constant modes and
their adjoint use the source index of each padded position (np.pad of an arange), so the
forward is a take and the backward a scatter-add along each padded dim."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu, scatter_add

_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@gpu("reshape")
def reshape(xp, x, shape):
    from unified.ops.shape import resolve_shape

    return xp.reshape(x, resolve_shape("reshape", x.shape, tuple(shape)))


@gpu("permute")
def permute(xp, x, dims):
    return xp.transpose(x, tuple(d % x.ndim for d in dims)) if x.ndim else x.view()


@gpu("expand")
def expand(xp, x, shape):
    from unified.ops.shape import expand_shape

    return xp.broadcast_to(x, expand_shape("expand", x.shape, tuple(shape)))


@gpu("slice")
def slice_(xp, x, starts, stops, steps, squeeze):
    from unified.ops.shape import slice_key

    return x[slice_key(starts, stops, steps, squeeze) + (Ellipsis,)]


@gpu("slice_backward")
def slice_backward(xp, g, shape, starts, stops, steps, squeeze):
    from unified.ops.shape import slice_key

    out = xp.zeros(tuple(shape), g.dtype)
    out[slice_key(starts, stops, steps, squeeze) + (Ellipsis,)] = g
    return out


@gpu("slice_scatter")
def slice_scatter(xp, x, src, starts, stops, steps, squeeze):
    from unified.ops.shape import slice_key

    out = xp.array(x, copy=True, order="C")
    out[slice_key(starts, stops, steps, squeeze) + (Ellipsis,)] = src
    return out


@gpu("cat")
def cat(xp, *xs, dim):
    return xp.concatenate(xs, axis=dim % xs[0].ndim)


def _source_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each position of a dim padded by (lo, hi), the input index it copies."""
    return np.pad(np.arange(n), (lo, hi), mode=_MODES[mode])


def _pairs(ndim: int, pad) -> list[tuple[int, int, int]]:
    """(dim, lo, hi) per padded dim; pad pairs start from the last dim."""
    return [(ndim - 1 - k, pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]


@gpu("pad")
def pad(xp, x, pad, mode, value):
    pairs = _pairs(x.ndim, pad)
    if mode == "constant":
        crop = [slice(None)] * x.ndim
        widths = [(0, 0)] * x.ndim
        for d, lo, hi in pairs:
            crop[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
            widths[d] = (max(lo, 0), max(hi, 0))
        cropped = x[tuple(crop)]
        return xp.pad(cropped, widths, constant_values=np.asarray(value, x.dtype))
    out = x
    for d, lo, hi in pairs:
        out = xp.take(out, xp.asarray(_source_index(x.shape[d], lo, hi, mode)), axis=d)
    return xp.array(out, order="C", copy=True)


@gpu("pad_backward")
def pad_backward(xp, g, shape, pad, mode):
    pairs = _pairs(len(shape), pad)
    if mode == "constant":
        keep = [slice(None)] * g.ndim
        widths = [(0, 0)] * g.ndim
        for d, lo, hi in pairs:
            keep[d] = slice(max(lo, 0), g.shape[d] - max(hi, 0))
            widths[d] = (max(-lo, 0), max(-hi, 0))
        return xp.pad(g[tuple(keep)], widths)
    out = g
    for d, lo, hi in pairs:
        index = xp.asarray(_source_index(shape[d], lo, hi, mode))
        moved = xp.moveaxis(out, d, 0)
        summed = xp.zeros((shape[d],) + moved.shape[1:], g.dtype)
        scatter_add(xp, summed, index, moved)
        out = xp.moveaxis(summed, 0, d)
    return xp.array(out, order="C", copy=True)
