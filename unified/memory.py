"""Memory held by tensor data: memory_stats() -> {"current_bytes", "peak_bytes", ...} and
reset_peak_memory_stats(), after tracking is switched on with track_memory(True). Tracking is
opt-in because it is a dispatcher observer (dispatch.observe) and costs time per op; off, the
eager hot path is untouched. Only eager ops are seen (traced runs use their arena plan)."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from unified import dispatch

_lock = threading.Lock()
_arrays: dict[int, tuple[weakref.ref, int]] = {}  # id(owning array) -> (weak ref, nbytes)
_stats = {"current": 0, "peak": 0, "ever_enabled": False}


def _release(key: int) -> None:
    with _lock:
        entry = _arrays.pop(key, None)
        if entry is not None:
            _stats["current"] -= entry[1]


def _track(array: np.ndarray) -> None:
    """Count the array that owns `array`'s memory, once, until it is freed."""
    while isinstance(array.base, np.ndarray):  # a view: its memory belongs to the base
        array = array.base
    key = id(array)
    if key in _arrays:
        return
    nbytes = int(array.nbytes)
    ref = weakref.ref(array, lambda _, key=key: _release(key))
    with _lock:
        _arrays[key] = (ref, nbytes)
        _stats["current"] += nbytes
        if _stats["current"] > _stats["peak"]:
            _stats["peak"] = _stats["current"]


def _observer(op: Any, inputs: tuple, attrs: Any, result: Any) -> None:
    for t in inputs:
        _track(t._data)
    if isinstance(result, tuple):
        for t in result:
            _track(t._data)
    else:
        _track(result._data)


class track_memory:
    """Count the memory of every array an eager op reads or writes (so a tensor made by
    `unified.tensor`/`zeros` counts from its first use) until it is freed. Works as a call,
    like torch's set_grad_enabled, or as a context manager that restores the previous state.
    Tracking applies to the current thread (context), as dispatch observers do.

    >>> import unified as U
    >>> with U.track_memory():
    ...     U.reset_peak_memory_stats()
    ...     x = U.ones(1000) * 2.0  # ones (freed after the line) and x: 4,000 bytes each
    ...     U.memory_stats()["peak_bytes"] >= 8000
    True
    """

    def __init__(self, enabled: bool = True) -> None:
        self.prev = is_tracking_memory()
        _set(bool(enabled))

    def __enter__(self) -> "track_memory":
        return self

    def __exit__(self, *exc: Any) -> None:
        _set(self.prev)


def _set(enabled: bool) -> None:
    observers = tuple(c for c in dispatch.OBSERVERS.get() if c is not _observer)
    if enabled:
        observers += (_observer,)
        _stats["ever_enabled"] = True
    dispatch.OBSERVERS.set(observers)


def is_tracking_memory() -> bool:
    return _observer in dispatch.OBSERVERS.get()


def memory_stats() -> dict[str, int]:
    """{"current_bytes", "peak_bytes", "num_arrays"} of tensor data counted by track_memory,
    plus PyTorch's key names for the first two ("allocated_bytes.all.current"/".peak")."""
    if not _stats["ever_enabled"]:
        raise RuntimeError("memory_stats: memory tracking is off; call "
                           "unified.track_memory(True) first (it costs time per op, so it is "
                           "opt-in)")
    with _lock:
        current, peak, count = _stats["current"], _stats["peak"], len(_arrays)
    return {"current_bytes": current, "peak_bytes": peak, "num_arrays": count,
            "allocated_bytes.all.current": current, "allocated_bytes.all.peak": peak}


def memory_allocated() -> int:
    """Bytes of tensor data held now (torch.cuda.memory_allocated's name)."""
    return memory_stats()["current_bytes"]


def max_memory_allocated() -> int:
    """The peak since tracking started or the last reset_peak_memory_stats()."""
    return memory_stats()["peak_bytes"]


def reset_peak_memory_stats() -> None:
    """Set the peak to the bytes held now."""
    with _lock:
        _stats["peak"] = _stats["current"]
