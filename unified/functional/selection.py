"""Selecting and encoding by class index, with torch's names: topk (values and int64 indices
of the k largest or smallest along a dim) and one_hot. Ops in unified/ops/nn.py; gather,
scatter and sort-like indexing are in indexing.py."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unified.dispatch import apply
from unified.ops import nn as ops
from unified.tensor import Tensor

__all__ = ["one_hot", "topk"]


class TopK(NamedTuple):
    """torch.return_types.topk: (values, indices)."""

    values: Tensor
    indices: Tensor


def _index_arg(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__}")
    return int(value)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopK:
    """The k largest (largest=False: smallest) values along `dim` and their int64 indices, best
    first (the result is always sorted; ties keep index order; NaN ranks above every number).

    >>> import unified as U
    >>> values, indices = U.topk(U.tensor([1.0, 5.0, 3.0]), 2)
    >>> values.tolist(), indices.tolist()
    ([5.0, 3.0], [1, 2])
    """
    k = _index_arg("topk", "k", k)
    dim = _index_arg("topk", "dim", dim)
    rank = max(input.ndim, 1)
    if -rank <= dim < 0:
        dim += rank  # out-of-range dims are left for the op's shape check to report
    values, indices = apply(ops.topk, (input,), {"k": k, "dim": dim, "largest": int(bool(largest))})
    return TopK(values, indices)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 of shape tensor.shape + (num_classes,) with a 1 at each class index;
    num_classes=-1 uses max + 1. A class outside [0, num_classes) is an IndexError.

    >>> import unified as U, unified.functional as F
    >>> F.one_hot(U.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    num_classes = _index_arg("one_hot", "num_classes", num_classes)
    if num_classes == -1 and tensor.dtype.kind in "iu":
        if tensor.numel() == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass "
                             "num_classes")
        num_classes = int(tensor.max().item()) + 1
    elif num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 or >= 0, got {num_classes}")
    return apply(ops.one_hot, (tensor,), {"num_classes": max(num_classes, 0)})
