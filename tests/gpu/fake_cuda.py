"""A test-only "cuda" device whose arrays are NumPy arrays of a subclass (FakeCudaArray): with
`fake_cuda()` installed, tensors moved to "cuda" dispatch to the GPU implementations
(unified/ops/gpu/) with xp = numpy, so every GPU implementation runs without a GPU."""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from unified.devices import Backend, use_cuda_backend


class FakeCudaArray(np.ndarray):
    """A NumPy array that unified treats as device memory (its type is not np.ndarray). Like
    CuPy's arrays, NumPy functions called on it (np.nonzero, np.concatenate, ...) give device
    arrays back."""

    def __array_function__(self, func, types, args, kwargs):
        return _relabel(super().__array_function__(func, types, args, kwargs))


def _relabel(value):
    if type(value) is np.ndarray:
        return value.view(FakeCudaArray)
    if isinstance(value, (tuple, list)):
        return type(value)(_relabel(v) for v in value)
    return value


class FakeCudaBackend(Backend):
    xp = np
    array_type = FakeCudaArray
    compiles_kernels = False

    def __init__(self) -> None:
        self.host_copies = 0  # device -> host transfers (tests check there are none per op)

    def from_host(self, array: np.ndarray) -> FakeCudaArray:
        return _fresh(array)

    def to_host(self, array) -> np.ndarray:
        self.host_copies += 1
        return np.array(array, copy=True).view(np.ndarray)

    def adopt(self, array) -> FakeCudaArray:
        """Views stay views (of the same memory); fresh results become fresh device arrays
        whose `base` is None, as CuPy's are (autograd and in-place checks read `base`)."""
        if type(array) is FakeCudaArray:
            return array
        array = np.asarray(array)
        return _fresh(array) if array.base is None else array.view(FakeCudaArray)


def _fresh(array: np.ndarray) -> FakeCudaArray:
    out = FakeCudaArray(array.shape, array.dtype)
    out[...] = array
    return out


@contextlib.contextmanager
def fake_cuda() -> Iterator[FakeCudaBackend]:
    with use_cuda_backend(FakeCudaBackend()) as backend:
        yield backend
