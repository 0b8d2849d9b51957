"""Value-read guards: a tensor value read back into Python while a function is recorded
(`item()`, `tolist()`, `numpy()`, `bool()`, `float()`, `int()`, an `if` on a tensor) may steer
Python control flow, so the value is recorded as a guard, recomputed on every replay and
compared after the run and before any state is written (replay.py); trace.py re-records (or,
strict, raises) on a mismatch. Printing a tensor warns once.
The hook lives in unified/tensor.py (`VALUE_READS`); recording is in record.py."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from unified.tracer.graph import Ref, SourceLoc

from unified.errors import user_frame
from unified.tensor import VALUE_READS, Tensor


class TraceWarning(UserWarning):
    """Something in a traced function is not replayed as written (a print, a Python side
    effect) or keeps the function from being replayed at all; the message says what."""


class RetraceWarning(TraceWarning):
    """A traced function keeps recording new graphs (new shapes, dtypes, non-tensor argument
    values or training flags); the message names the changed argument."""


@dataclasses.dataclass
class Guard:
    """One value read: `ref` is the graph value read, `value` a copy of its data then, `kind`
    how it was read (item, tolist, numpy, bool), `position` the number of calls recorded
    before the read and `source` the user's line."""

    ref: Ref
    kind: str
    value: np.ndarray
    source: SourceLoc | None
    position: int

    def python_value(self, array: np.ndarray | None = None) -> Any:
        """The value as the user's code saw it (a bool, a number, a list or an array)."""
        array = self.value if array is None else array
        if self.kind == "bool":
            return bool(array.reshape(()))
        if self.kind == "item":
            return array.reshape(()).item()
        if self.kind == "tolist":
            return array.tolist()
        return array

    def holds(self, array: np.ndarray) -> bool:
        if array.shape != self.value.shape or array.dtype != self.value.dtype:
            return False
        return bool(np.array_equal(array, self.value, equal_nan=array.dtype.kind == "f"))

    def describe(self, array: np.ndarray) -> str:
        where = f" read at {self.source}" if self.source else ""
        return (f"value {self.ref}{where} ({self.kind}) was {_short(self.python_value())} when "
                f"recorded, now {_short(self.python_value(array))}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def source_here() -> SourceLoc | None:
    """The user's current line (the first frame outside the unified package)."""
    frame = user_frame()
    if frame is None:
        return None
    return SourceLoc(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


@contextlib.contextmanager
def reading(on_read: Callable[[Tensor, str], None]) -> Iterator[None]:
    """Install `on_read(tensor, kind)` as the value-read hook for the block; an enclosing
    recording's hook (a traced function called inside another) is called too."""
    outer = VALUE_READS.get()

    def hook(t: Tensor, kind: str) -> None:
        on_read(t, kind)
        if outer is not None:
            outer(t, kind)

    token = VALUE_READS.set(hook)
    try:
        yield
    finally:
        VALUE_READS.reset(token)


def warn_print(function_name: str, source: SourceLoc | None) -> None:
    where = f" at {source}" if source else ""
    warnings.warn(f"trace({function_name}): a tensor is printed inside the traced function"
                  f"{where}; it prints while recording only, not when the graph is replayed "
                  "(return the tensor and print it outside)", TraceWarning, stacklevel=2)


def first_failure(guards: list[Guard],
                  values: list[np.ndarray]) -> tuple[Guard, np.ndarray] | None:
    """The first guard whose recomputed value (an array) differs, with that value; None when
    all hold."""
    for guard, value in zip(guards, values):
        if not guard.holds(value):
            return guard, value
    return None
