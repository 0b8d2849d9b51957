"""Dtypes: unified's dtypes are NumPy dtype objects (`unified.float32 is np.dtype('float32')`),
so NumPy interop is free. float32 is the one floating type computed by kernels; int32/int64 for
indices and labels, bool for masks, uint8 for images. Unlike PyTorch there is no float64:
float64 data is converted to float32 on the way in (documented in `unified.tensor`)."""

from __future__ import annotations

import builtins

import numpy as np

from unified.errors import DTypeError

float32 = np.dtype(np.float32)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
uint8 = np.dtype(np.uint8)

float = float32  # noqa: A001  (PyTorch aliases)
long = int64
int = int32  # noqa: A001

SUPPORTED = (float32, int32, int64, bool_, uint8)
_RANK = {bool_: 0, uint8: 1, int32: 2, int64: 3, float32: 4}
_NAMES = {"float32": float32, "float": float32, "int32": int32, "int": int32, "int64": int64,
          "long": int64, "bool": bool_, "uint8": uint8}


def as_dtype(dtype) -> np.dtype:
    """Normalise a dtype argument (np dtype, numpy type, 'float32', Python float/int/bool)."""
    if dtype is None:
        return float32
    if isinstance(dtype, str):
        if dtype in _NAMES:
            return _NAMES[dtype]
        raise DTypeError(f"unknown dtype '{dtype}'; use one of {sorted(_NAMES)}")
    if dtype is builtins.float:
        return float32
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool_
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"unknown dtype {dtype!r}") from None
    if d == np.float64 or d == np.float16:
        return float32
    if d not in _RANK:
        raise DTypeError(f"dtype {d} is not supported; supported: float32, int32, int64, bool, "
                         "uint8")
    return d


def promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """Result dtype of a binary op: float beats int, wider int beats narrower, bool loses."""
    return a if _RANK[a] >= _RANK[b] else b


def is_floating(d: np.dtype) -> bool:
    return d is float32 or d == float32
