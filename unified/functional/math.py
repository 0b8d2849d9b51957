"""Elementwise math with PyTorch's names: arithmetic with broadcasting and dtype promotion,
comparisons, where, casts, unary math, clamp, and the in-place forms (add_, mul_, copy_, ...).
Activations are in activation.py; both call ops from unified/ops/elementwise.py."""

from __future__ import annotations

import builtins
import math as _pymath

import numpy as np

from unified.dispatch import apply, apply_inplace
from unified.dtypes import as_dtype, promote
from unified.ops import elementwise as ops
from unified.tensor import Tensor, wrap

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_SCALARS: dict = {}

__all__ = [
    "abs", "add", "add_", "cast", "clamp", "clamp_", "clip", "clone", "copy_", "cos", "div",
    "div_", "eq", "exp", "fill_", "ge", "gt", "le", "log", "lt", "maximum", "minimum", "mul",
    "mul_", "ne", "neg", "pow", "rsqrt", "sign", "sin", "sqrt", "sub", "where",
]


def _scalar(value, like_dtype: np.dtype) -> Tensor:
    """A 0-d constant for a Python number next to a tensor of `like_dtype` (cached, read-only).
    A Tensor subclass (nn.Parameter), which misses the `__class__ is Tensor` fast paths, passes."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, builtins.bool):
        dtype = like_dtype
    elif isinstance(value, builtins.int):
        dtype = _I64 if like_dtype == np.bool_ else like_dtype
    elif isinstance(value, builtins.float):
        dtype = _F32
    elif isinstance(value, np.ndarray):
        return wrap(np.asarray(value, dtype=as_dtype(value.dtype)))
    elif isinstance(value, np.generic):
        return _scalar(value.item(), like_dtype)
    else:
        raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")
    key = (value, dtype, type(value))
    t = _SCALARS.get(key)
    if t is None:
        array = np.array(value, dtype)
        array.flags.writeable = False
        t = wrap(array)
        if len(_SCALARS) < 4096:
            _SCALARS[key] = t
    return t


def _operands(a, b) -> tuple:
    """Two tensors of one dtype from tensors and/or Python numbers (PyTorch's promotion)."""
    if a.__class__ is not Tensor:
        if b.__class__ is not Tensor:
            b = _scalar(b, _F32)
        a = _scalar(a, b._data.dtype)
    elif b.__class__ is not Tensor:
        b = _scalar(b, a._data.dtype)
    if a._data.dtype is not b._data.dtype and a._data.dtype != b._data.dtype:
        dtype = promote(a._data.dtype, b._data.dtype)
        a = a if a.dtype == dtype else cast(a, dtype)
        b = b if b.dtype == dtype else cast(b, dtype)
    return a, b


def _binary(op, a, b):
    return apply(op, _operands(a, b))


def _to_float(a, b):
    """div and pow compute in float32 (true division, like PyTorch)."""
    a = a if isinstance(a, Tensor) else _scalar(builtins.float(a), _F32)
    b = b if isinstance(b, Tensor) else _scalar(builtins.float(b), _F32)
    return (a if a.dtype == _F32 else cast(a, _F32)), (b if b.dtype == _F32 else cast(b, _F32))


def add(input, other, alpha: float = 1) -> Tensor:
    """input + alpha * other, broadcasting.

    >>> import unified as U
    >>> U.add(U.tensor([1.0, 2.0]), 10.0).tolist()
    [11.0, 12.0]
    >>> U.add(U.tensor([1.0, 2.0]), U.tensor([1.0, 1.0]), alpha=-0.5).tolist()
    [0.5, 1.5]
    """
    if alpha != 1:
        return _scaled(ops.add, input, other, alpha)
    return _binary(ops.add, input, other)


def sub(input, other, alpha: float = 1) -> Tensor:
    if alpha != 1:
        return _scaled(ops.sub, input, other, alpha)
    return _binary(ops.sub, input, other)


def _scaled(op, input, other, alpha) -> Tensor:
    """a +/- alpha * b in one kernel when both are float32, else as mul then add/sub."""
    a, b = _operands(input, other)
    if a.dtype == _F32 and b.dtype == _F32:
        return apply(op, (a, b), {"alpha": builtins.float(alpha)})
    return _binary(op, a, mul(b, alpha))


def mul(input, other) -> Tensor:
    return _binary(ops.mul, input, other)


def div(input, other) -> Tensor:
    """True division in float32 (ints are converted first, as in PyTorch)."""
    return apply(ops.div, _to_float(input, other))


def pow(input, exponent) -> Tensor:
    return apply(ops.pow, _to_float(input, exponent))


def maximum(input, other) -> Tensor:
    return _binary(ops.maximum, input, other)


def minimum(input, other) -> Tensor:
    return _binary(ops.minimum, input, other)


def eq(input, other) -> Tensor:
    return _binary(ops.eq, input, other)


def ne(input, other) -> Tensor:
    return _binary(ops.ne, input, other)


def lt(input, other) -> Tensor:
    return _binary(ops.lt, input, other)


def le(input, other) -> Tensor:
    return _binary(ops.le, input, other)


def gt(input, other) -> Tensor:
    return _binary(ops.gt, input, other)


def ge(input, other) -> Tensor:
    return _binary(ops.ge, input, other)


def where(condition, input, other) -> Tensor:
    """Elements of `input` where `condition` is true, else of `other` (broadcasting).

    >>> import unified as U
    >>> x = U.tensor([-1.0, 2.0])
    >>> U.where(x > 0, x, 0.0).tolist()
    [0.0, 2.0]
    """
    if not isinstance(condition, Tensor):
        condition = wrap(np.asarray(condition, np.bool_))
    if condition.dtype != np.bool_:
        condition = cast(condition, np.bool_)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _scalar(input, _F32)
    like = input if isinstance(input, Tensor) else other
    input = input if isinstance(input, Tensor) else _scalar(input, like.dtype)
    other = other if isinstance(other, Tensor) else _scalar(other, like.dtype)
    if input.dtype != other.dtype:
        dtype = promote(input.dtype, other.dtype)
        input, other = cast(input, dtype), cast(other, dtype)
    return apply(ops.where, (condition, input, other))


def cast(input: Tensor, dtype) -> Tensor:
    """A copy of `input` converted to `dtype` (float -> int truncates toward zero)."""
    return apply(ops.cast, (input,), {"dtype": as_dtype(dtype).name})


def clone(input: Tensor) -> Tensor:
    """A contiguous copy that keeps gradient flow."""
    return apply(ops.cast, (input,), {"dtype": input.dtype.name})


def neg(input): return apply(ops.neg, (input,))
def abs(input): return apply(ops.abs, (input,))
def sign(input): return apply(ops.sign, (input,))
def exp(input): return apply(ops.exp, (_float(input),))
def log(input): return apply(ops.log, (_float(input),))
def sqrt(input): return apply(ops.sqrt, (_float(input),))
def rsqrt(input): return apply(ops.rsqrt, (_float(input),))
def sin(input): return apply(ops.sin, (_float(input),))
def cos(input): return apply(ops.cos, (_float(input),))


def _float(x: Tensor) -> Tensor:
    return x if x._data.dtype is _F32 or x._data.dtype == _F32 else cast(x, _F32)


def _bound(value) -> float:
    if value is None:
        return _pymath.nan
    if isinstance(value, Tensor):
        raise TypeError("clamp: tensor bounds are not supported; use maximum/minimum")
    return builtins.float(value)


def clamp(input, min=None, max=None) -> Tensor:
    """Limit values to [min, max]; either bound may be None.

    >>> import unified as U
    >>> U.clamp(U.tensor([-2.0, 0.5, 3.0]), min=-1, max=1).tolist()
    [-1.0, 0.5, 1.0]
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if input.dtype != _F32:
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return apply(ops.clamp, (input,), {"min": _bound(min), "max": _bound(max)})


clip = clamp


# ---- in-place ----------------------------------------------------------------------------
def _operand(target: Tensor, other) -> Tensor:
    other = other if other.__class__ is Tensor else _scalar(other, target.dtype)
    return other if other.dtype == target.dtype else cast(other, target.dtype)


def add_(input: Tensor, other, alpha: float = 1) -> Tensor:
    other = _operand(input, other)
    if alpha != 1 and input.dtype == _F32:
        return apply_inplace(ops.add, input, (other,), {"alpha": builtins.float(alpha)})
    if alpha != 1:
        other = mul(other, alpha)
    return apply_inplace(ops.add, input, (other,))


def mul_(input: Tensor, other) -> Tensor:
    return apply_inplace(ops.mul, input, (_operand(input, other),))


def div_(input: Tensor, other) -> Tensor:
    return apply_inplace(ops.div, input, (_operand(input, other),))


def clamp_(input: Tensor, min=None, max=None) -> Tensor:
    return apply_inplace(ops.clamp, input, (), {"min": _bound(min), "max": _bound(max)})


def copy_(input: Tensor, src) -> Tensor:
    """Copy `src` (broadcast, converted to input's dtype) into `input`'s memory."""
    from unified.functional.shape import expand

    src = src if isinstance(src, Tensor) else wrap(np.asarray(src))
    if src.shape != input.shape:
        src = expand(src, input.shape)
    return apply_inplace(ops.cast, input, (src,), {"dtype": input.dtype.name}, reads_target=False)


def fill_(input: Tensor, value) -> Tensor:
    return copy_(input, _scalar(value, input.dtype))
