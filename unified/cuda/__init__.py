"""`U.cuda`: is_available, device_count, synchronize, current_device, get_device_name, and
`unavailable_reason` (why not: CuPy missing, or CuPy's own error). The device model and
backends are in unified/devices.py; the GPU op implementations in unified/ops/gpu/.

>>> import unified.cuda
>>> isinstance(unified.cuda.is_available(), bool)
True
"""

from __future__ import annotations

from unified import devices as _device


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU (or a test backend is installed)."""
    return _device.unavailable_reason() is None


def unavailable_reason() -> str | None:
    return _device.unavailable_reason()


def device_count() -> int:
    return _device.cuda_backend().device_count() if is_available() else 0


def current_device() -> int:
    _device.cuda_backend()
    return 0


def synchronize() -> None:
    """Wait for every queued GPU kernel (DeviceError without a GPU)."""
    _device.cuda_backend().synchronize()


def get_device_name(index: int = 0) -> str:
    backend = _device.cuda_backend()
    xp = backend.xp
    if not hasattr(xp, "cuda"):
        return type(backend).__name__
    return xp.cuda.runtime.getDeviceProperties(index)["name"].decode()


__all__ = ["current_device", "device_count", "get_device_name", "is_available", "synchronize",
           "unavailable_reason"]
