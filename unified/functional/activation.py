"""Activations with torch.nn.functional's names and defaults (ops in unified/ops/elementwise.py)."""

from __future__ import annotations

from unified.dispatch import apply, apply_inplace
from unified.functional.math import _float
from unified.ops import elementwise as ops
from unified.tensor import Tensor

__all__ = ["gelu", "leaky_relu", "relu", "relu_", "sigmoid", "silu", "softplus", "tanh"]


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0).

    >>> import unified as U, unified.functional as F
    >>> F.relu(U.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    if inplace:
        return apply_inplace(ops.relu, input, ())
    return apply(ops.relu, (_float(input),))


def relu_(input: Tensor) -> Tensor:
    return apply_inplace(ops.relu, input, ())


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    attrs = {"negative_slope": float(negative_slope)}
    if inplace:
        return apply_inplace(ops.leaky_relu, input, (), attrs)
    return apply(ops.leaky_relu, (_float(input),), attrs)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit; approximate='tanh' uses the tanh formula (as PyTorch)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(ops.gelu, (_float(input),), {"approximate": approximate})


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return apply(ops.silu, (_float(input),))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    attrs = {"beta": float(beta), "threshold": float(threshold)}
    return apply(ops.softplus, (_float(input),), attrs)


def sigmoid(input: Tensor) -> Tensor:
    return apply(ops.sigmoid, (_float(input),))


def tanh(input: Tensor) -> Tensor:
    return apply(ops.tanh, (_float(input),))
