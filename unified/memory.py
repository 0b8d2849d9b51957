"""Memory held by tensor data: memory_stats() -> {"current_bytes", "peak_bytes", ...},
memory_allocated(), max_memory_allocated() and reset_peak_memory_stats(). Always on at no
per-op cost: `_core` installs a NumPy allocation handler (NEP 49) when unified is imported, so
every array allocated from then on in the importing thread (every tensor's storage, and other
NumPy arrays too) is counted until freed, and traced runs add their executor arenas. Arrays
allocated before the import or in other threads are not counted."""

from __future__ import annotations

from unified import _core

_INSTALLED = _core.install_counting_allocator()


def memory_stats() -> dict[str, int]:
    """{"current_bytes", "peak_bytes"} of tensor data, plus PyTorch's key names for the same
    values ("allocated_bytes.all.current" / ".peak").

    >>> import unified as U
    >>> U.reset_peak_memory_stats()
    >>> start = U.memory_stats()["current_bytes"]
    >>> x = U.ones(1000) * 2.0  # ones (freed after the line) and x: 4,000 bytes each
    >>> U.memory_stats()["peak_bytes"] - start >= 8000
    True
    """
    if not _INSTALLED:
        raise RuntimeError("memory_stats: NumPy's allocation-handler API (NumPy >= 1.22) is not "
                           "available in this process, so tensor memory cannot be counted")
    stats = _core.memory_stats()
    current, peak = stats["current_bytes"], stats["peak_bytes"]
    return {"current_bytes": current, "peak_bytes": peak,
            "allocated_bytes.all.current": current, "allocated_bytes.all.peak": peak}


def memory_allocated() -> int:
    """Bytes of tensor data held now (torch.cuda.memory_allocated's name)."""
    return memory_stats()["current_bytes"]


def max_memory_allocated() -> int:
    """The peak since import or the last reset_peak_memory_stats()."""
    return memory_stats()["peak_bytes"]


def reset_peak_memory_stats() -> None:
    """Set the peak to the bytes held now."""
    _core.reset_peak_memory_stats()
