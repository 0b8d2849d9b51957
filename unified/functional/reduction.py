"""Reductions (sum, mean, max, min, amax, amin, argmax, argmin, var, std, logsumexp, all, any)
over any dims with keepdim, with torch's names and defaults, and sum_to (the reduction that
undoes broadcasting in gradients). Ops in unified/ops/reduce.py; kernels in
core_cpp/kernels/reduce.cpp."""

from __future__ import annotations

import builtins
import operator
from collections import namedtuple

import numpy as np

from unified.dispatch import apply
from unified.errors import ShapeError, attach_location
from unified.ops import reduce as ops
from unified.ops.infer import normalize_axis
from unified.tensor import Tensor

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "logsumexp", "max", "mean", "min", "std",
    "sum", "sum_to", "var",
]

# torch.return_types.max / .min: (values, indices), also readable as a tuple
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _dims(op: str, dim, ndim: int) -> tuple[int, ...]:
    """dim (None, an int, or a sequence of ints; negative counts from the end) as the sorted
    tuple of non-negative dims the ops take. None and () reduce every dim, as in PyTorch."""
    if dim is None:
        return tuple(range(ndim))
    try:
        dims = (operator.index(dim),) if not isinstance(dim, (tuple, list)) else tuple(
            operator.index(d) for d in dim)
    except TypeError:
        raise attach_location(TypeError(
            f"{op}: dim must be an int, a tuple of ints or None, got {dim!r}")) from None
    if not dims:
        return tuple(range(ndim))
    try:
        normalized = [normalize_axis(op, d, ndim) for d in dims]
    except ShapeError as exc:
        raise attach_location(exc) from None
    if len(set(normalized)) != len(normalized):
        raise attach_location(ShapeError(f"{op}: dims {tuple(dims)} name the same dim more "
                                         f"than once (tensor with {ndim} dimensions)"))
    return tuple(sorted(normalized)) if ndim else ()


def _reduce(op, input: Tensor, dim, keepdim, **attrs) -> Tensor:
    dims = _dims(op.name, dim, input.ndim)
    return apply(op, (input,), {"dims": dims, "keepdim": builtins.bool(keepdim), **attrs})


def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum over `dim` (all dims when None); int and bool inputs give int64.

    >>> import unified as U
    >>> U.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(0).tolist()
    [4.0, 6.0]
    """
    if dtype is not None:
        input = input.to(dtype)
    return _reduce(ops.sum, input, dim, keepdim)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over `dim` (all dims when None); float32 only (cast ints with .float())."""
    if dtype is not None:
        input = input.to(dtype)
    return _reduce(ops.mean, input, dim, keepdim)


def _extremum(op, arg_op, result, input, dim, keepdim, other):
    if other is not None or isinstance(dim, Tensor):  # torch.max(input, other): elementwise
        from unified.functional import math

        return (math.maximum if op is ops.max else math.minimum)(
            input, dim if other is None else other)
    if dim is None:
        if keepdim:
            raise attach_location(ValueError(
                f"{op.name}: keepdim=True needs a dim; use amax/amin for all dims"))
        return _reduce(op, input, None, False)
    if not isinstance(dim, (int, np.integer)):
        raise attach_location(TypeError(
            f"{op.name}: dim must be an int (use amax/amin for several dims), got {dim!r}"))
    return result(_reduce(op, input, dim, keepdim), _reduce(arg_op, input, dim, keepdim))


def max(input: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """max(x) -> 0-d maximum; max(x, dim, keepdim) -> (values, indices); max(x, other) ->
    elementwise maximum. Gradients of the values are split evenly among ties.

    >>> import unified as U
    >>> U.max(U.tensor([[1.0, 5.0], [7.0, 2.0]]), 1).indices.tolist()
    [1, 0]
    """
    return _extremum(ops.max, ops.argmax, MaxResult, input, dim, keepdim, other)


def min(input: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """min(x) -> 0-d minimum; min(x, dim, keepdim) -> (values, indices); min(x, other) ->
    elementwise minimum."""
    return _extremum(ops.min, ops.argmin, MinResult, input, dim, keepdim, other)


def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Maximum over `dim` (an int or a tuple; () = all dims), values only."""
    return _reduce(ops.max, input, dim, keepdim)


def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Minimum over `dim` (an int or a tuple; () = all dims), values only."""
    return _reduce(ops.min, input, dim, keepdim)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """int64 index of the first maximum along `dim`; dim=None indexes the flattened tensor."""
    return _reduce(ops.argmax, input, dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """int64 index of the first minimum along `dim`; dim=None indexes the flattened tensor."""
    return _reduce(ops.argmin, input, dim, keepdim)


def _correction(op: str, unbiased, correction) -> float:
    if correction is None:
        return 1.0 if unbiased else 0.0
    if isinstance(correction, builtins.bool) or not isinstance(
            correction, (int, float, np.integer, np.floating)):
        raise attach_location(TypeError(f"{op}: correction must be a number, got {correction!r}"))
    return builtins.float(correction)


def var(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over `dim`: sum((x - mean)^2) / (N - correction); correction defaults to 1
    (unbiased) or 0 with unbiased=False. var(x, False) reads as unbiased=False, like torch."""
    if isinstance(dim, builtins.bool):
        dim, unbiased = None, dim
    return _reduce(ops.var, input, dim, keepdim, correction=_correction("var", unbiased,
                                                                         correction))


def std(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation: sqrt of var with the same arguments."""
    from unified.functional.math import sqrt

    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably (shifted by the max)."""
    return _reduce(ops.logsumexp, input, dim, keepdim)


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True where every element along `dim` is nonzero (all dims when None); bool result."""
    return _reduce(ops.all, input, dim, keepdim)


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True where some element along `dim` is nonzero (all dims when None); bool result."""
    return _reduce(ops.any, input, dim, keepdim)


def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `g` over the dims that broadcasting added or stretched, giving `shape`."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    from unified.functional.shape import reshape

    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
    )
    if dims:
        g = sum(g, dims, keepdim=True)
    return reshape(g, shape)
