"""Creation functions with PyTorch's names: tensor, as_tensor, from_numpy, zeros, ones, full,
empty, *_like, arange, linspace, eye. These make constants (no op runs); random creation
(randn, rand, randint, ...) lives in unified/functional/random.py and runs the random kernels.
`device=` ("cpu", "cuda", a unified.device) places the result: the array is made on the host
and copied once (unified/devices.py move); *_like functions follow their input's device."""

from __future__ import annotations

import functools
import weakref
from typing import Any

import numpy as np

from unified.dtypes import SUPPORTED, as_dtype
from unified.errors import DTypeError
from unified.tensor import Tensor, wrap

_F32 = np.dtype(np.float32)


def as_array(data: Any, dtype=None, copy: bool = True) -> np.ndarray:
    """Data -> a NumPy array of a supported dtype. float64/float16 become float32, Python
    ints int64, Python bools bool; `dtype` overrides."""
    if isinstance(data, Tensor):
        array = _host(data._data)
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        array = np.asarray([np.asarray(d._data if isinstance(d, Tensor) else d) for d in data])
    else:
        array = np.asarray(data)
    if dtype is not None:
        target = as_dtype(dtype)
    elif array.dtype in SUPPORTED:
        target = array.dtype
    elif array.dtype.kind == "f":
        target = _F32
    elif array.dtype.kind in "iu":
        target = np.dtype(np.int64)
    else:
        raise DTypeError(f"cannot make a tensor from data of dtype {array.dtype}; supported: "
                         "float32, int32, int64, bool, uint8 (and float64, stored as float32)")
    if array.dtype != target:
        return array.astype(target)
    return np.array(array, copy=True) if copy else np.ascontiguousarray(array)


def _host(array: Any) -> np.ndarray:
    if type(array) is np.ndarray:
        return array
    from unified.devices import CPU, move

    return move(array, CPU)


def _place(array: Any, device) -> Any:
    """`array` on `device` (None: where it is)."""
    if device is None:
        return array
    from unified.devices import as_device, move

    return move(array, as_device(device))


def _new(array: np.ndarray, requires_grad: bool, device=None) -> Tensor:
    t = wrap(_place(array, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (a list, scalar, NumPy array or Tensor).

    >>> import unified as U
    >>> U.tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    >>> U.tensor([0.5, 1.5]).tolist()
    [0.5, 1.5]
    """
    _check_device(device)
    if device is None and isinstance(data, Tensor):
        device = data.device
    return _new(as_array(data, dtype), requires_grad, device)


def as_tensor(data: Any, dtype=None, device: str | None = None) -> Tensor:
    """Like `tensor` but shares memory with a NumPy array or Tensor when no conversion is needed."""
    _check_device(device)
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype) and (
            device is None or data.device == device):
        return data
    if device is None and isinstance(data, Tensor):
        device = data.device
    return wrap(_place(as_array(data, dtype, copy=False), device))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (float64 arrays are converted: we have no float64)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return wrap(as_array(array, copy=False))


def _check_device(device) -> None:
    """A known device name (DeviceError otherwise); "cuda" is checked when data moves there."""
    if device is not None:
        from unified.devices import as_device

        as_device(device)


def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if int(s) < 0:
            raise ValueError(f"negative dimension {s} in size {tuple(size)}")
    return tuple(int(s) for s in size)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """>>> import unified as U; U.zeros(2, 3).shape
    (2, 3)
    """
    _check_device(device)
    return _new(np.zeros(_shape(size), as_dtype(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _new(np.ones(_shape(size), as_dtype(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _new(np.empty(_shape(size), as_dtype(dtype)), requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    _check_device(device)
    if dtype is None:
        dtype = as_array(fill_value).dtype
    return _new(np.full(_shape((size,)), fill_value, as_dtype(dtype)), requires_grad, device)


def _like(t: Tensor, dtype) -> tuple:
    return t.shape, (t.dtype if dtype is None else as_dtype(dtype))


def _like_array(t: Tensor, fn: str, shape: tuple, dtype, *fill) -> Any:
    """np.<fn>(shape, ...) made directly on t's device (xp.<fn> there)."""
    if type(t._data) is np.ndarray:
        return getattr(np, fn)(shape, *fill, dtype=dtype)
    from unified.devices import backend_of

    backend = backend_of(t._data)
    if backend is None:
        return getattr(np, fn)(shape, *fill, dtype=dtype)
    return backend.adopt(getattr(backend.xp, fn)(shape, *fill, dtype=dtype))


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(t, dtype)
    return _new(_like_array(t, "zeros", shape, d), requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(t, dtype)
    return _new(_like_array(t, "ones", shape, d), requires_grad)


def empty_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(t, dtype)
    return _new(_like_array(t, "empty", shape, d), requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(t, dtype)
    return _new(_like_array(t, "full", shape, d, fill_value), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """>>> import unified as U; U.arange(3).tolist()
    [0, 1, 2]
    """
    _check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    array = np.arange(start, end, step)
    return _new(as_array(array, dtype, copy=False), requires_grad, device)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _new(np.linspace(start, end, int(steps)).astype(as_dtype(dtype)), requires_grad,
                device)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _new(np.eye(n, m, dtype=as_dtype(dtype)), requires_grad, device)


@functools.lru_cache(maxsize=64)
def zero_bias(size: int) -> Tensor:
    """A read-only zero vector shared between calls: the bias of a linear or conv without one
    (those ops always take three inputs). It never requires grad, so no gradient is computed.
    It is on the CPU and serves every device (is_zero_bias)."""
    zeros = np.zeros(size, np.float32)
    zeros.flags.writeable = False
    _ZERO_BIASES[id(zeros)] = zeros
    return wrap(zeros)


# The zero biases by id (weak: an evicted one goes away). A zero bias is device-neutral: the GPU
# path (unified/ops/gpu/run.py) replaces it by device zeros instead of calling it a mixed-device
# input, since F.linear/F.conv2d pass it without knowing the device.
_ZERO_BIASES: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


def is_zero_bias(array: Any) -> bool:
    return _ZERO_BIASES.get(id(array)) is array
