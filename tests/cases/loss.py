"""Op table rows for unified/ops/loss.py: nll_loss (through F.nll_loss, F.cross_entropy and the
op itself) over every reduction, per-class weights, ignore_index, spatial and unbatched inputs,
strided log-probabilities and int32 targets; gradient rows run nll_loss_backward, and the
backward op's own rows check its gradient (double backward) in grad and total_weight."""

import numpy as np

import unified.functional as F
from tests.op_cases import Arg, OpCase
from unified.ops import loss as loss_ops

WEIGHT = Arg((3,), "positive", grad=False)
TARGET = Arg((5,), value=[2, 0, -100, 1, 2], dtype="int64")  # one ignored


def _nll_terms(logp, target, weight, ignore_index=-100):
    """Per-target -w[t] * logp[t] (0 where ignored) and the kept weights, for (N, C, d...) or
    (C,) log-probabilities."""
    lp = np.moveaxis(logp, 0 if logp.ndim == 1 else 1, -1)
    target = np.asarray(target)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    w = weight[safe] * valid
    picked = np.take_along_axis(lp, safe[..., None], -1)[..., 0]
    return -picked * w, w


def _nll_ref(reduction, ignore_index=-100, total=False):
    def ref(logp, target, weight=None):
        weight = np.ones(logp.shape[0 if logp.ndim == 1 else 1]) if weight is None else weight
        loss, w = _nll_terms(logp, target, weight, ignore_index)
        if reduction == "mean":
            with np.errstate(invalid="ignore"):  # all ignored: 0 / 0 = nan, as in PyTorch
                loss = loss.sum() / w.sum()
        elif reduction == "sum":
            loss = loss.sum()
        return (loss, w.sum()) if total else loss
    return ref


def _log_softmax(x, dim):
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


def _cross_entropy_ref(reduction, smoothing=0.0):
    def ref(x, target, weight=None):
        dim = 0 if x.ndim == 1 else 1
        logp = _log_softmax(x, dim)
        weight = np.ones(x.shape[dim]) if weight is None else weight
        loss, w = _nll_terms(logp, target, weight)
        if smoothing:
            lp = np.moveaxis(logp, dim, -1)
            smooth = -(lp * weight).sum(-1) * (np.asarray(target) != -100)
            loss = (1 - smoothing) * loss + smoothing / x.shape[dim] * smooth
        if reduction == "mean":
            return loss.sum() / w.sum()
        return loss.sum() if reduction == "sum" else loss
    return ref


def _nll_backward_ref(reduction):
    def ref(g, target, weight, total):
        out = np.zeros(target.shape[:1] + (weight.shape[0],) + target.shape[1:])
        moved = np.moveaxis(out, 1, -1)  # a view: writes land in out
        for pos in np.ndindex(target.shape):
            t = target[pos]
            if t == -100:
                continue
            scale = g[pos] if reduction == "none" else g / (total if reduction == "mean" else 1)
            moved[pos + (t,)] = -weight[t] * scale
        return out
    return ref


CASES = []
for reduction in ("mean", "sum", "none"):
    CASES += [
        OpCase(f"nll_loss_{reduction}_weight_ignore",
               lambda x, t, w, r=reduction: F.nll_loss(x, t, w, reduction=r),
               _nll_ref(reduction), (Arg((5, 3)), TARGET, WEIGHT)),
        OpCase(f"nll_loss_{reduction}_spatial",
               lambda x, t, r=reduction: F.nll_loss(x, t, reduction=r),
               _nll_ref(reduction), (Arg((2, 3, 2, 2)), Arg((2, 2, 2), "int", "int64", high=3))),
        OpCase(f"cross_entropy_{reduction}_weight_ignore",
               lambda x, t, w, r=reduction: F.cross_entropy(x, t, w, reduction=r),
               _cross_entropy_ref(reduction), (Arg((5, 3)), TARGET, WEIGHT)),
        OpCase(f"cross_entropy_{reduction}_label_smoothing",
               lambda x, t, w, r=reduction: F.cross_entropy(x, t, w, reduction=r,
                                                            label_smoothing=0.2),
               _cross_entropy_ref(reduction, 0.2), (Arg((5, 3)), TARGET, WEIGHT)),
        OpCase(f"nll_loss_op_{reduction}_outputs_total_weight",
               lambda x, t, w, r=reduction: F.call_op(loss_ops.nll_loss, x, t, w,
                                                      ignore_index=-100, reduction=r),
               _nll_ref(reduction, total=True), (Arg((5, 3)), TARGET, WEIGHT)),
        OpCase(f"nll_loss_backward_op_{reduction}",
               lambda g, t, w, tw, r=reduction: F.call_op(loss_ops.nll_loss_backward, g, t, w, tw,
                                                          ignore_index=-100, reduction=r),
               _nll_backward_ref(reduction),
               (Arg((5,) if reduction == "none" else ()), TARGET, WEIGHT,
                Arg((), "positive", grad=reduction == "mean"))),  # only mean reads total_weight
    ]

CASES += [
    OpCase("nll_loss_transposed_log_probs", lambda x, t: F.nll_loss(x, t), _nll_ref("mean"),
           (Arg((4, 3), layout="transposed"), Arg((4,), "int", "int64", high=3))),
    OpCase("nll_loss_int32_target", lambda x, t: F.nll_loss(x, t, reduction="sum"),
           _nll_ref("sum"), (Arg((6, 4)), Arg((6,), "int", "int32", high=4))),
    OpCase("nll_loss_custom_ignore_index", lambda x, t: F.nll_loss(x, t, ignore_index=1),
           _nll_ref("mean", ignore_index=1),
           (Arg((4, 3)), Arg((4,), value=[1, 0, 2, 1], dtype="int64"))),
    OpCase("nll_loss_unbatched", lambda x, t: F.nll_loss(x, t, reduction="none"),
           _nll_ref("none"), (Arg((4,)), Arg((), value=2, dtype="int64"))),
    OpCase("cross_entropy_unbatched_label_smoothing",
           lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
           _cross_entropy_ref("mean", 0.1), (Arg((4,)), Arg((), value=3, dtype="int64"))),
    OpCase("cross_entropy_spatial_weight_smoothing",
           lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.3),
           _cross_entropy_ref("mean", 0.3),
           (Arg((2, 3, 2, 2)), Arg((2, 2, 2), "int", "int64", high=3), WEIGHT)),
    OpCase("nll_loss_all_ignored_mean_is_nan", lambda x, t: F.nll_loss(x, t), _nll_ref("mean"),
           (Arg((2, 3)), Arg((2,), value=[-100, -100], dtype="int64")), grad=False),
    OpCase("nll_loss_empty_batch", lambda x, t: F.nll_loss(x, t, reduction="none"),
           _nll_ref("none"), (Arg((0, 3)), Arg((0,), "int", "int64", high=3))),
]
