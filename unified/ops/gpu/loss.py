"""GPU implementations of the loss family (unified/ops/loss.py): nll_loss and its backward,
with per-class weights, ignore_index and the mean/sum/none reductions (total_weight is the
sum of the kept targets' weights; mean over no kept target is NaN, as on the CPU)."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu, host, quiet

_F32 = np.float32


def _picked(xp, target, weight, ignore_index):
    """(safe target, weight per target with 0 where ignored); IndexError for a bad class."""
    kept = target != ignore_index
    bad = xp.logical_and(kept, xp.logical_or(target < 0, target >= weight.shape[0]))
    if target.size and bool(bad.any()):
        value = int(host(target[bad].ravel()[:1])[0])
        raise IndexError(f"nll_loss: target {value} is out of range for {weight.shape[0]} "
                         "classes")
    safe = xp.where(kept, target, 0).astype(np.int64)
    return safe, xp.take(weight, safe) * kept.astype(_F32)


def _class_axis(log_probs, target):
    return 0 if target.ndim == 0 else 1


@gpu("nll_loss")
def nll_loss(xp, log_probs, target, weight, ignore_index, reduction):
    safe, w = _picked(xp, target, weight, ignore_index)
    axis = _class_axis(log_probs, target)
    picked = xp.take_along_axis(log_probs, xp.expand_dims(safe, axis), axis=axis)
    each = -w * xp.squeeze(picked, axis=axis)
    total = xp.sum(w, dtype=_F32)
    if reduction == "none":
        return each, total
    loss = xp.sum(each, dtype=_F32)
    if reduction == "mean":
        with quiet(xp):
            loss = loss / total
    return loss, total


@gpu("nll_loss_backward")
def nll_loss_backward(xp, g, target, weight, total_weight, ignore_index, reduction):
    safe, w = _picked(xp, target, weight, ignore_index)
    if reduction == "mean":
        with quiet(xp):
            g = g / total_weight
    axis = _class_axis(None, target)
    shape = list(target.shape)
    shape.insert(axis, weight.shape[0])
    out = xp.zeros(tuple(shape), _F32)
    values = xp.broadcast_to(-w * g, target.shape)
    xp.put_along_axis(out, xp.expand_dims(safe, axis), xp.expand_dims(values, axis), axis=axis)
    return out
