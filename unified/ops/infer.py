"""Shared shape/dtype inference rules (pure functions over metadata: anything with .shape and
.dtype). Each raises ShapeError/DTypeError naming the op and the values."""

from __future__ import annotations

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.registry import TensorMeta

F32 = np.dtype(np.float32)
BOOL = np.dtype(np.bool_)
INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of several shapes; ShapeError names the op and every shape."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        size = 1
        for s in shapes:
            d = s[axis] if -axis <= len(s) else 1
            if d != 1:
                if size != 1 and d != size:
                    listed = ", ".join(fmt_shape(s) for s in shapes)
                    raise ShapeError(
                        f"{op}: shapes {listed} cannot be broadcast (dimension {axis}: "
                        f"{size} vs {d})"
                    )
                size = d
        out.append(size)
    return tuple(out)


def same_dtype(op: str, *metas) -> np.dtype:
    dtype = metas[0].dtype
    for m in metas[1:]:
        if m.dtype != dtype:
            names = ", ".join(str(m.dtype) for m in metas)
            raise DTypeError(f"{op}: inputs must have one dtype, got {names}")
    return dtype


def require_float(op: str, meta, role: str = "input") -> None:
    if meta.dtype != F32:
        raise DTypeError(f"{op}: {role} must be float32, got {meta.dtype} "
                         f"(shape {fmt_shape(meta.shape)}); cast with .float()")


def require_index(op: str, meta, role: str = "index") -> None:
    if meta.dtype not in INDEX_DTYPES:
        raise DTypeError(f"{op}: {role} must be int64 or int32, got {meta.dtype} "
                         f"(shape {fmt_shape(meta.shape)})")


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ShapeError(f"{op}: dim {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % max(ndim, 1)


def binary(op: str):
    """a, b -> broadcast shape, same dtype (the dispatcher's caller promotes first)."""

    def infer(a, b, **attrs):
        if a.shape == b.shape and a.dtype == b.dtype:
            return a  # the common case: any object with .shape/.dtype is a meta
        dtype = same_dtype(op, a, b)
        return TensorMeta(broadcast_shapes(op, a.shape, b.shape), dtype)

    return infer


def binary_float(op: str):
    def infer(a, b):
        require_float(op, a, "input a")
        require_float(op, b, "input b")
        if a.shape == b.shape:
            return a
        return TensorMeta(broadcast_shapes(op, a.shape, b.shape), F32)

    return infer


def compare(op: str):
    def infer(a, b):
        same_dtype(op, a, b)
        shape = a.shape if a.shape == b.shape else broadcast_shapes(op, a.shape, b.shape)
        return TensorMeta(shape, BOOL)

    return infer


def unary_float(op: str):
    def infer(x, **attrs):
        require_float(op, x)
        return x

    return infer


def unary_numeric(op: str):
    def infer(x, **attrs):
        if x.dtype not in (F32, np.dtype(np.int32), np.dtype(np.int64)):
            raise DTypeError(f"{op}: input must be float32, int32 or int64, got {x.dtype}")
        return x

    return infer


def backward_float(op: str):
    """(grad, saved) -> grad's meta; the saved tensor must have the grad's shape."""

    def infer(g, saved, **attrs):
        require_float(op, g, "grad")
        if g.shape != saved.shape:
            raise ShapeError(f"{op}: grad {fmt_shape(g.shape)} and saved tensor "
                             f"{fmt_shape(saved.shape)} differ")
        return TensorMeta(tuple(g.shape), F32)

    return infer
