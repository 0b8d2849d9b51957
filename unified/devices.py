"""Devices: `unified.device` objects ("cpu", "cuda", "cuda:0") and the array backends behind
them. A tensor's device is read off the type of its `_data` array: a NumPy array is on the
CPU, a CuPy array on "cuda". The CUDA backend is made on first use and needs CuPy
(`pip install unified[gpu]`) and a visible GPU; without either, asking for "cuda" raises
DeviceError saying which. Kernels per device live on the OpDef (`kernel` for the CPU,
`gpu` for CUDA: unified/ops/gpu/); dispatch.py routes by device; unified/cuda/ is the
`U.cuda` namespace (is_available, synchronize, device_count).

Device model:
  1. Equality: a device equals another device or a string naming it; an unindexed "cuda"
     equals "cuda:0" (there is one current device), so `t.device == "cuda"` reads naturally.
  2. Moving data is explicit (`Tensor.to`, `.cuda()`, `.cpu()`, `Module.to`). An op whose
     tensors are on two devices raises DeviceError naming both and the op. Exceptions, as in
     PyTorch: 0-d CPU tensors (Python scalars made into tensors) mix with any device; an op's
     `host_inputs` (unified/ops/gpu: the random generator state, optimizer hyper-parameters)
     are small host-side data the GPU implementation reads on the host.
  3. Tests swap in a backend whose arrays are NumPy arrays of a subclass (tests/gpu/
     fake_cuda.py) with `use_cuda_backend`, so every GPU op runs on machines without a GPU.
Limits: one CUDA device (index 0); no streams, events or peer copies.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

_ND = np.ndarray


class DeviceError(RuntimeError):
    """A device that cannot be used (CuPy missing, no GPU, an unknown name), or an op given
    tensors on two devices. The message names the device(s), the op and the reason. Fix: install
    `unified[gpu]`, or move tensors explicitly with `.to(device)` / `.cuda()` / `.cpu()`."""


class device:  # noqa: N801  (PyTorch's name: unified.device("cuda"))
    """A device: type "cpu" or "cuda" and an optional index.

    >>> import unified as U
    >>> U.device("cuda:0") == "cuda", str(U.device("cuda")), U.device("cpu") == "cpu"
    (True, 'cuda', True)
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: Any, index: int | None = None) -> None:
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise DeviceError(f"a device is a string such as 'cpu', 'cuda' or 'cuda:0', or a "
                              f"unified.device; got {spec!r}")
        kind, _, number = spec.partition(":")
        if kind not in ("cpu", "cuda") or (number and not number.isdigit()):
            raise DeviceError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        if number:
            if index is not None and index != int(number):
                raise DeviceError(f"device {spec!r} given with a second index {index}")
            index = int(number)
        if kind == "cpu" and index not in (None, 0):
            raise DeviceError(f"device 'cpu' has no index {index}")
        self.type = kind
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        if not isinstance(other, device) or other.type != self.type:
            return False
        return self.index is None or other.index is None or self.index == other.index

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


CPU = device("cpu")
CUDA0 = device("cuda", 0)


class Backend:
    """An array library for one device type. `xp` is its NumPy-like namespace (CuPy), `array_type`
    the class of its arrays. Subclasses: CupyBackend below; tests/gpu/fake_cuda.py."""

    type = "cuda"
    array_type: Any = None
    xp: Any = None
    compiles_kernels = False  # True when generated CUDA source can run (CuPy's RawKernel)

    def from_host(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def to_host(self, array: Any) -> np.ndarray:
        raise NotImplementedError

    def adopt(self, array: Any) -> Any:
        """An xp result as this device's array (the fake backend re-labels plain NumPy arrays)."""
        return array

    def synchronize(self) -> None:
        pass

    def device_count(self) -> int:
        return 1


class CupyBackend(Backend):
    """CUDA through CuPy: cuBLAS, cuDNN where CuPy has it, NVRTC for generated kernels, and
    CuPy's memory pool for eager allocations."""

    compiles_kernels = True

    def __init__(self, cupy: Any) -> None:
        self.xp = cupy
        self.array_type = cupy.ndarray

    def from_host(self, array: np.ndarray) -> Any:
        return self.xp.asarray(array)

    def to_host(self, array: Any) -> np.ndarray:
        return self.xp.asnumpy(array)

    def synchronize(self) -> None:
        self.xp.cuda.runtime.deviceSynchronize()

    def device_count(self) -> int:
        return int(self.xp.cuda.runtime.getDeviceCount())


_cuda: Backend | None = None
_BY_ARRAY_TYPE: dict[type, Backend] = {}


def unavailable_reason() -> str | None:
    """Why "cuda" cannot be used here (None when it can): CuPy missing, or CuPy's own reason."""
    if _cuda is not None:
        return None
    try:
        import cupy
    except ImportError as exc:
        return (f"CuPy is not installed ({exc}); install the GPU extra: "
                "pip install unified[gpu] (cupy-cuda12x)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, too old a driver, no device
        return f"CuPy {cupy.__version__} found no usable GPU: {exc}"
    return None if count > 0 else f"CuPy {cupy.__version__} sees no CUDA device"


def cuda_backend() -> Backend:
    """The CUDA backend, made on first use; DeviceError when CuPy or a GPU is missing."""
    global _cuda
    if _cuda is None:
        reason = unavailable_reason()
        if reason is not None:
            raise DeviceError(f"device 'cuda' is not available: {reason}")
        import cupy

        _install(CupyBackend(cupy))
    assert _cuda is not None
    return _cuda


def _install(backend: Backend | None) -> None:
    global _cuda
    _BY_ARRAY_TYPE.clear()
    _cuda = backend
    if backend is not None:
        _BY_ARRAY_TYPE[backend.array_type] = backend
        import unified.ops.gpu  # noqa: F401  (attaches OpDef.gpu to every op)


@contextlib.contextmanager
def use_cuda_backend(backend: Backend) -> Iterator[Backend]:
    """Make `backend` the "cuda" device inside the block (tests: a fake device over NumPy)."""
    previous = _cuda
    _install(backend)
    try:
        yield backend
    finally:
        _install(previous)


def as_device(spec: Any) -> device:
    return spec if isinstance(spec, device) else device(spec)


def backend_of(array: Any) -> Backend | None:
    """The backend owning `array`, None for host (NumPy) arrays."""
    if type(array) is _ND:
        return None
    return _BY_ARRAY_TYPE.get(type(array))


def device_of(array: Any) -> device:
    return CPU if backend_of(array) is None else CUDA0


def move(array: Any, target: device) -> Any:
    """`array` on `target` (the same object when it is there already)."""
    source = backend_of(array)
    if target.type == "cpu":
        return array if source is None else source.to_host(array)
    backend = cuda_backend()
    if target.index not in (None, 0):
        raise DeviceError(f"device '{target}' does not exist: only cuda:0 is supported")
    if source is backend:
        return array
    host = array if source is None else source.to_host(array)
    return backend.from_host(np.asarray(host))
