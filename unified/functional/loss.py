"""Loss functions with torch.nn.functional's names, arguments and reductions: cross_entropy,
nll_loss, mse_loss, l1_loss, smooth_l1_loss, binary_cross_entropy(_with_logits). Class-index
cross_entropy is log_softmax + the nll_loss op (unified/ops/loss.py); the rest are composed
from registered ops (where, sum, ...), so a traced training step records each like any other
op. The loss Modules that wrap these are in unified/nn/loss.py."""

from __future__ import annotations

import warnings

import numpy as np

from unified.creation import ones
from unified.dispatch import apply
from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.functional.activation import softplus
from unified.functional.math import _float, clamp, log, where
from unified.functional.norm import log_softmax
from unified.functional.reduction import sum as _sum
from unified.ops import loss as loss_ops
from unified.ops.infer import broadcast_shapes
from unified.tensor import Tensor

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"]

_F32 = np.dtype(np.float32)
_REDUCTIONS = ("none", "mean", "sum")


# ---- reduction -----------------------------------------------------------------------------
def _reduction(op: str, reduction: str, size_average, reduce) -> str:
    """The reduction string; the legacy size_average/reduce flags win when given (PyTorch)."""
    if size_average is not None or reduce is not None:
        warnings.warn(f"{op}: size_average and reduce are deprecated, use reduction='mean'|"
                      "'sum'|'none'", UserWarning, stacklevel=3)
        reduce = True if reduce is None else reduce
        size_average = True if size_average is None else size_average
        return "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _require_tensor(op: str, name: str, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")


# ---- class-index losses ----------------------------------------------------------------------
def _check_weight(op: str, input: Tensor, weight: Tensor | None) -> None:
    num_classes = input.shape[0 if input.ndim == 1 else 1]
    if weight is None:
        return
    _require_tensor(op, "weight", weight)
    if tuple(weight.shape) != (num_classes,):
        raise ShapeError(f"{op}: weight must have shape ({num_classes},) (one per class of input "
                         f"{fmt_shape(input.shape)}), got {fmt_shape(weight.shape)}")


def _check_class_shapes(op: str, input: Tensor, target: Tensor, weight: Tensor | None) -> None:
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must have a class dimension, got a 0-d tensor")
    expected = () if input.ndim == 1 else input.shape[:1] + input.shape[2:]
    if tuple(target.shape) != expected:
        raise ShapeError(
            f"{op}: target shape {fmt_shape(target.shape)} does not fit input shape "
            f"{fmt_shape(input.shape)}: expected target {fmt_shape(expected)} (input is "
            "(N, C, d1, ...) or (C,), target (N, d1, ...) or ())")
    _check_weight(op, input, weight)


def _check_index_target(op: str, input: Tensor, target: Tensor) -> None:
    if target.dtype.kind not in "iu":
        raise DTypeError(
            f"{op}: target must hold int64 class indices, got {target.dtype} target of shape "
            f"{fmt_shape(target.shape)} for input {fmt_shape(input.shape)} (probability "
            "targets must be float32 with the input's shape; cast indices with .long())")


def _nll(op: str, logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
         reduction: str) -> tuple[Tensor, Tensor]:
    """The nll_loss op: (loss, total_weight). weight is always passed (ones when None); an
    out-of-range target's IndexError names `op` (cross_entropy reports as itself)."""
    num_classes = logp.shape[0 if logp.ndim == 1 else 1]
    weight = ones(num_classes, device=logp.device) if weight is None else _float(weight)
    try:
        return apply(loss_ops.nll_loss, (logp, target, weight),
                     {"ignore_index": ignore_index, "reduction": reduction})
    except IndexError as exc:
        if op != "nll_loss" and exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0].replace("nll_loss:", f"{op}:", 1),) + exc.args[1:]
        raise


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` under log-probabilities `input`
    ((N, C, d1, ...) or (C,)). 'mean' divides by the summed weights of the kept targets.

    >>> import unified as U, unified.functional as F
    >>> F.nll_loss(U.tensor([[-1.0, -2.0], [-3.0, -4.0]]), U.tensor([0, 1])).item()
    2.5
    """
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    _require_tensor("nll_loss", "input", input)
    _require_tensor("nll_loss", "target", target)
    _check_class_shapes("nll_loss", input, target, weight)
    _check_index_target("nll_loss", input, target)
    return _nll("nll_loss", _float(input), target, weight, int(ignore_index), reduction)[0]


def _smoothing_loss(logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                    reduction: str, total_weight: Tensor) -> Tensor:
    """PyTorch's smoothing term: -sum_c w_c logp_c per target (0 where ignored), reduced like
    the nll term ('mean' divides by the same total weight of the kept targets)."""
    class_dim = 0 if logp.ndim == 1 else 1
    if weight is not None:
        logp = logp * (weight if logp.ndim <= 2 else weight.reshape((-1,) + (1,) * (logp.ndim - 2)))
    smooth = where(target != ignore_index, -_sum(logp, class_dim), 0.0)
    if reduction == "mean":
        return smooth.sum() / total_weight
    return smooth.sum() if reduction == "sum" else smooth


def _cross_entropy_probs(logp: Tensor, target: Tensor, weight: Tensor | None,
                         reduction: str, label_smoothing: float) -> Tensor:
    num_classes = logp.shape[1]
    if weight is not None:
        logp = logp * weight.reshape((1, -1) + (1,) * (logp.ndim - 2))
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    loss = -_sum(logp * target, 1)
    return _reduce(loss, reduction)


def _batched(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, bool]:
    """(C,) input and (C,) probability target as a batch of one."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.unsqueeze(0), True
    return input, target, False


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim (1, or 0 for unbatched (C,) input) followed by nll_loss.
    `target` holds int64 class indices ((N, d1, ...)) or float32 class probabilities (the
    input's shape). label_smoothing mixes in a uniform target, as PyTorch does.

    >>> import unified as U, unified.functional as F
    >>> round(F.cross_entropy(U.tensor([[0.0, 0.0]]), U.tensor([1])).item(), 4)
    0.6931
    """
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    _require_tensor("cross_entropy", "input", input)
    _require_tensor("cross_entropy", "target", target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if input.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class dimension, got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    if target.dtype == _F32 and tuple(target.shape) == tuple(input.shape):
        _check_weight("cross_entropy", input, weight)
        logp, target, unbatched = _batched(log_softmax(input, class_dim), target)
        loss = _cross_entropy_probs(logp, target, weight, reduction, label_smoothing)
        return loss.squeeze(0) if unbatched and reduction == "none" else loss
    _check_class_shapes("cross_entropy", input, target, weight)
    _check_index_target("cross_entropy", input, target)
    logp = log_softmax(input, class_dim)
    loss, total_weight = _nll("cross_entropy", logp, target, weight, int(ignore_index), reduction)
    if label_smoothing == 0:
        return loss
    smooth = _smoothing_loss(logp, target, weight, int(ignore_index), reduction, total_weight)
    return loss * (1 - label_smoothing) + smooth * (label_smoothing / logp.shape[class_dim])


# ---- elementwise losses ----------------------------------------------------------------------
def _pointwise_operands(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """input and target as float32; a size mismatch broadcasts with PyTorch's warning, and
    shapes that cannot broadcast raise a ShapeError naming both."""
    _require_tensor(op, "input", input)
    _require_tensor(op, "target", target)
    if tuple(input.shape) != tuple(target.shape):
        try:
            broadcast_shapes(op, input.shape, target.shape)
        except ShapeError:
            raise ShapeError(f"{op}: input {fmt_shape(input.shape)} and target "
                             f"{fmt_shape(target.shape)} have different shapes that do not "
                             "broadcast") from None
        warnings.warn(f"{op}: using a target size {fmt_shape(target.shape)} that is different "
                      f"to the input size {fmt_shape(input.shape)}; this will likely lead to "
                      "incorrect results due to broadcasting", UserWarning, stacklevel=3)
    return _float(input), _float(target)


def _weighted(op: str, loss: Tensor, input: Tensor, weight: Tensor | None,
              reduction: str) -> Tensor:
    """Reduce `loss`; with a weight (the input's size), 'mean' is sum(w * loss) / sum(w)."""
    if weight is None:
        return _reduce(loss, reduction)
    _require_tensor(op, "weight", weight)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight {fmt_shape(weight.shape)} and input "
                         f"{fmt_shape(input.shape)} must have the same size")
    loss = loss * weight
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Squared error (input - target)^2, reduced; `weight` (input's size) weighs each element.

    >>> import unified as U, unified.functional as F
    >>> F.mse_loss(U.tensor([1.0, 2.0]), U.tensor([0.0, 0.0])).item()
    2.5
    """
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    input, target = _pointwise_operands("mse_loss", input, target)
    diff = input - target
    return _weighted("mse_loss", diff * diff, input, weight, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Absolute error |input - target|, reduced; `weight` (input's size) weighs each element.

    >>> import unified as U, unified.functional as F
    >>> F.l1_loss(U.tensor([1.0, -3.0]), U.tensor([0.0, 0.0]), reduction="sum").item()
    4.0
    """
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    input, target = _pointwise_operands("l1_loss", input, target)
    return _weighted("l1_loss", (input - target).abs(), input, weight, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0 is L1."""
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    input, target = _pointwise_operands("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def _same_size_target(op: str, input: Tensor, target: Tensor) -> None:
    _require_tensor(op, "input", input)
    _require_tensor(op, "target", target)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"{op}: target size {fmt_shape(target.shape)} must be the same as "
                         f"input size {fmt_shape(input.shape)}")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p = input; each log is clamped at
    -100 as in PyTorch. Prefer binary_cross_entropy_with_logits (stable for large logits)."""
    reduction = _reduction("binary_cross_entropy", reduction, size_average, reduce)
    _same_size_target("binary_cross_entropy", input, target)
    input, target = _float(input), _float(target)
    log_p = clamp(log(input), min=-100.0)
    log_q = clamp(log(1.0 - input), min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable expression:
    (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x). `weight` rescales each element,
    `pos_weight` the positive term (broadcast along the last, class, dim).

    >>> import unified as U, unified.functional as F
    >>> round(F.binary_cross_entropy_with_logits(U.tensor([0.0]), U.tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _reduction("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    _same_size_target("binary_cross_entropy_with_logits", input, target)
    input, target = _float(input), _float(target)
    log_sigmoid_neg = softplus(-input)  # -log(sigmoid(x)), exact for large |x|
    if pos_weight is None:
        loss = (1.0 - target) * input + log_sigmoid_neg
    else:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * log_sigmoid_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
