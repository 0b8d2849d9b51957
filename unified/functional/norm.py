"""Softmax and normalization with torch.nn.functional's names: softmax, log_softmax, batch_norm
(which updates the running statistics in place when training) and layer_norm. Ops in
unified/ops/nn.py; topk/one_hot are in selection.py, dropout in random.py."""

from __future__ import annotations

import numpy as np

from unified.creation import ones, zeros
from unified.dispatch import apply
from unified.dtypes import as_dtype
from unified.functional.math import _float, cast
from unified.grad_mode import no_grad
from unified.ops import nn as ops
from unified.tensor import Tensor

__all__ = ["batch_norm", "group_norm", "layer_norm", "log_softmax", "softmax"]


def _dim_attr(op: str, dim) -> dict:
    if dim is None:
        raise ValueError(f"{op}: pass dim explicitly (PyTorch's implicit choice is deprecated)")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    return {"dim": int(dim)}


def _softmax_input(input: Tensor, dtype) -> Tensor:
    if dtype is not None and input.dtype != as_dtype(dtype):
        input = cast(input, as_dtype(dtype))
    return _float(input)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably (the max is subtracted first).

    >>> import unified as U, unified.functional as F
    >>> F.softmax(U.tensor([0.0, 0.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    return apply(ops.softmax, (_softmax_input(input, dtype),), _dim_attr("softmax", dim))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) along `dim`, without overflow for large inputs.

    >>> import unified as U, unified.functional as F
    >>> round(F.log_softmax(U.tensor([1000.0, 1000.0]), dim=0)[0].item(), 4)
    -0.6931
    """
    return apply(ops.log_softmax, (_softmax_input(input, dtype),), _dim_attr("log_softmax", dim))


def _channels(input: Tensor) -> int:
    return input.shape[1] if input.ndim >= 2 else 0


def _contiguous(t: Tensor | None, default: Tensor) -> Tensor:
    return default if t is None else t.contiguous()


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize (N, C, ...) input per channel C. training=True uses the batch's statistics and
    updates running_mean/running_var in place (unbiased variance, like PyTorch); else it uses the
    running statistics.

    >>> import unified as U, unified.functional as F
    >>> x = U.tensor([[1.0], [3.0]])
    >>> mean, var = U.zeros(1), U.ones(1)
    >>> [round(v, 3) for v in F.batch_norm(x, mean, var, training=True).flatten().tolist()]
    [-1.0, 1.0]
    >>> [round(v, 4) for v in mean.tolist() + var.tolist()]
    [0.2, 1.1]
    """
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    if not isinstance(momentum, (int, float)) or isinstance(momentum, bool):
        raise TypeError(f"batch_norm: momentum must be a float, got {momentum!r}")
    c = _channels(input)
    # training reads no running statistics (they are updated below, after the op)
    dev = input.device  # defaults are made where the input is
    stats = (zeros(c, device=dev), ones(c, device=dev)) if training else (
        running_mean.contiguous(), running_var.contiguous())
    inputs = (input.contiguous(),) + stats + (_contiguous(weight, ones(c, device=dev)),
                                              _contiguous(bias, zeros(c, device=dev)))
    out, mean, var = apply(ops.batch_norm, inputs,
                           {"training": int(bool(training)), "eps": float(eps)})
    if training and running_mean is not None and running_var is not None:
        count = input.numel() // c
        with no_grad():
            running_mean.mul_(1.0 - momentum).add_(mean.detach(), alpha=momentum)
            running_var.mul_(1.0 - momentum).add_(var.detach(),
                                                  alpha=momentum * count / (count - 1))
    return out


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims, then scale by weight and add bias.

    >>> import unified as U, unified.functional as F
    >>> [round(v, 3) for v in F.layer_norm(U.tensor([[1.0, 3.0]]), (2,)).flatten().tolist()]
    [-1.0, 1.0]
    """
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(s) for s in normalized_shape)
    inputs = (input.contiguous(), _contiguous(weight, ones(*shape, device=input.device)),
              _contiguous(bias, zeros(*shape, device=input.device)))
    out, _, _ = apply(ops.layer_norm, inputs, {"normalized_shape": shape, "eps": float(eps)})
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize (N, C, ...) input over groups of C / num_groups channels (and all spatial
    positions), then scale and shift per channel. Composed of reshape, mean and var ops.

    >>> import unified as U, unified.functional as F
    >>> [round(v, 3) for v in F.group_norm(U.tensor([[1.0, 3.0]]), 1).flatten().tolist()]
    [-1.0, 1.0]
    """
    from unified.errors import ShapeError, fmt_shape

    if input.ndim < 2 or num_groups <= 0 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: input shape {fmt_shape(input.shape)} needs (N, C, ...) "
                         f"with C divisible by num_groups={num_groups}")
    n, c = input.shape[0], input.shape[1]
    grouped = input.reshape(n, num_groups, -1)
    mean = grouped.mean(-1, keepdim=True)
    var = grouped.var(-1, unbiased=False, keepdim=True)
    out = ((grouped - mean) * (var + eps).rsqrt()).reshape(input.shape)
    channel_shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(channel_shape)
    if bias is not None:
        out = out + bias.reshape(channel_shape)
    return out
