"""loss ops: nll_loss (class-index negative log-likelihood with per-class weights, ignore_index
and the mean/sum/none reductions) and its backward op. Kernels: core_cpp/kernels/loss.cpp.
The user-facing wrappers (cross_entropy = log_softmax + nll_loss, label smoothing, probability
targets) are in unified/functional/loss.py."""

from __future__ import annotations

from unified.errors import ShapeError, fmt_shape
from unified.ops import infer
from unified.ops.registry import F, OpDef, TensorMeta, register

F32 = infer.F32
REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_target(op: str, target, weight) -> int:
    """Checks target and weight; returns the number of classes (weight is (C,), always given)."""
    infer.require_index(op, target, "target")
    infer.require_float(op, weight, "weight")
    if len(weight.shape) != 1:
        raise ShapeError(f"{op}: weight must be one value per class (C,), got "
                         f"{fmt_shape(weight.shape)}")
    return weight.shape[0]


def _class_input_shape(target_shape: tuple, num_classes: int) -> tuple:
    """log_probs' shape for a target: (N, d...) -> (N, C, d...); () (unbatched) -> (C,)."""
    return tuple(target_shape[:1]) + (num_classes,) + tuple(target_shape[1:])


def _nll_loss_infer(log_probs, target, weight, ignore_index=-100, reduction="mean"):
    infer.require_float("nll_loss", log_probs, "log_probs")
    num_classes = _check_target("nll_loss", target, weight)
    _check_reduction("nll_loss", reduction)
    if len(log_probs.shape) == 0 or tuple(log_probs.shape) != _class_input_shape(
            target.shape, num_classes):
        raise ShapeError(f"nll_loss: log_probs {fmt_shape(log_probs.shape)}, target "
                         f"{fmt_shape(target.shape)} and weight {fmt_shape(weight.shape)} do not "
                         "fit: expected log_probs (N, C, d...) or (C,), target (N, d...) or () "
                         "and weight (C,)")
    loss = TensorMeta(tuple(target.shape) if reduction == "none" else (), F32)
    return loss, TensorMeta((), F32)


def _nll_loss_backward_infer(g, target, weight, total_weight, ignore_index=-100,
                             reduction="mean"):
    num_classes = _check_target("nll_loss_backward", target, weight)
    _check_reduction("nll_loss_backward", reduction)
    infer.require_float("nll_loss_backward", g, "grad")
    infer.require_float("nll_loss_backward", total_weight, "total_weight")
    g_shape = tuple(target.shape) if reduction == "none" else ()
    if tuple(g.shape) != g_shape or tuple(total_weight.shape) != ():
        raise ShapeError(f"nll_loss_backward: grad {fmt_shape(g.shape)} and total_weight "
                         f"{fmt_shape(total_weight.shape)} do not fit reduction={reduction!r} "
                         f"with target {fmt_shape(target.shape)} (expected grad "
                         f"{fmt_shape(g_shape)} and a 0-d total_weight)")
    return TensorMeta(_class_input_shape(target.shape, num_classes), F32)


def _nll_loss_grad(g, log_probs, target, weight, out, ignore_index, reduction):
    # out = (loss, total_weight); total_weight does not depend on log_probs, and weight is
    # treated as a constant (as in PyTorch), so only log_probs gets a gradient
    if g[0] is None:
        return None, None, None
    gx = F.call_op(nll_loss_backward, g[0], target, weight, out[1], ignore_index=ignore_index,
                   reduction=reduction)
    return gx, None, None


def _nll_loss_backward_grad(gg, g, target, weight, total_weight, out, ignore_index, reduction):
    # gx = -w[t] * g (/ total for mean) at the target positions: linear in g, so d/dg is the
    # forward nll_loss of gg; for mean, d/dtotal = -g * nll_sum(gg) / total^2
    def nll(reduction_of_gg):
        return F.call_op(nll_loss, gg, target, weight, ignore_index=ignore_index,
                         reduction=reduction_of_gg)[0]

    if reduction != "mean":
        return nll(reduction), None, None, None
    dg = F.div(nll("sum"), total_weight)
    return dg, None, None, F.neg(F.div(F.mul(dg, g), total_weight))


nll_loss_backward = register(OpDef(
    name="nll_loss_backward", inputs=("grad", "target", "weight", "total_weight"),
    infer=_nll_loss_backward_infer, kernel="nll_loss_backward", grad=_nll_loss_backward_grad,
    attrs={"ignore_index": -100, "reduction": "mean"},
    onnx_unsupported="backward ops are not exported",
    doc="grad of log_probs: -weight[t] * grad (divided by total_weight for mean) at each "
        "target's class, 0 elsewhere and at ignored targets",
))
def _nll_loss_onnx(b, inputs, attrs, in_metas, out_metas):
    """NegativeLogLikelihoodLoss (an unbatched (C,) input gets a batch of one); total_weight,
    when read, is the sum of weight[t] over the targets that are not ignore_index."""
    log_probs, target, weight = inputs
    reduction, ignore = attrs["reduction"], int(attrs["ignore_index"])
    if len(in_metas[0].shape) == 1:
        log_probs, target = b.unsqueeze(log_probs, [0]), b.unsqueeze(target, [0])
    loss = b.one("NegativeLogLikelihoodLoss", [log_probs, target, weight], reduction=reduction,
                 ignore_index=ignore)
    if reduction == "none" and len(in_metas[0].shape) == 1:
        loss = b.squeeze(loss, [0])
    total = None
    if b.used_outputs[1]:
        dtype = in_metas[1].dtype
        kept = b.one("Not", [b.one("Equal", [target, b.scalar(ignore, dtype)])])
        safe = b.one("Where", [kept, target, b.scalar(0, dtype)])
        picked = b.one("Mul", [b.one("Gather", [weight, safe]), b.cast(kept, F32)])
        total = b.reduce("ReduceSum", b.reshape(picked, [-1]), [0], False)
    return [loss, total]


nll_loss = register(OpDef(
    name="nll_loss", inputs=("log_probs", "target", "weight"), infer=_nll_loss_infer,
    kernel="nll_loss", grad=_nll_loss_grad, num_outputs=2,
    attrs={"ignore_index": -100, "reduction": "mean"}, saves_output=True,
    onnx=_nll_loss_onnx,
    doc="(loss, total_weight): -weight[t] * log_probs[t] per target (0 where t == "
        "ignore_index), summed, averaged by total_weight = sum of the kept targets' weights "
        "(mean; nan when all are ignored) or kept per target (none); a target outside [0, C) "
        "is an IndexError",
))
