"""Error classes and user-frame capture: every user-facing error names the op, the values and
the user's own file:line (the first frame outside the unified package), not a frame inside it.
The dispatcher (dispatch.py) attaches the location; ops raise these classes from `infer`."""

from __future__ import annotations

import linecache
import os
import sys
import types

_PACKAGE_DIRS: tuple[str, ...] = ()


def _package_dirs() -> tuple[str, ...]:
    """Folders whose frames are ours: unified/ and the folders mapped into it (tracer/, ...)."""
    global _PACKAGE_DIRS
    if not _PACKAGE_DIRS:
        here = os.path.dirname(os.path.abspath(__file__))
        root = os.path.dirname(here)
        dirs = [here] + [os.path.join(root, d) for d in ("tracer", "export", "mobile")]
        _PACKAGE_DIRS = tuple(d + os.sep for d in dirs if os.path.isdir(d))
    return _PACKAGE_DIRS


class ShapeError(ValueError):
    """Shapes do not fit the op: mismatched dimensions, a bad axis, a size that cannot be
    reshaped. The message names the op, the shapes and your line. Fix: check the shapes printed
    (e.g. a missing transpose, or a flatten before a linear layer)."""


class DTypeError(TypeError):
    """A dtype the op does not accept (e.g. float indices, an int tensor where gradients are
    needed). The message names the op and dtypes. Fix: cast with `.float()`/`.long()`."""


class TraceError(RuntimeError):
    """A traced function cannot be replayed safely (a guard failed under strict=True, or a
    Python value was read from a tensor while tracing). The message names the line."""


class ExportError(TraceError):
    """A function cannot be exported (it writes state, draws random numbers, branches on
    tensor values, or uses an op with no ONNX lowering). The message names the op and line."""


class AnomalyError(RuntimeError):
    """Anomaly detection (`unified.debug.detect_anomaly()`) found NaN or Inf in an op's output.
    The message names the op, how many values went bad, the inputs' range, forward or backward
    (with the forward op a backward op belongs to), the module path and the line that created
    the op; a note lists per-input statistics. Fix: look at that op's inputs (a log or a
    division at 0, an exp that overflows, a learning rate too large), e.g. clamp or add eps."""


class BundleError(ValueError):
    """A bundle or checkpoint file is truncated, corrupted or not ours; the message names the
    offset and the field."""


class CheckpointError(BundleError):
    """A checkpoint file (unified.save/load) cannot be read: truncated, corrupted (a CRC32
    mismatch), not a unified checkpoint, or written by a newer format version. The message
    names the file, the field or byte offset, and the values. Fix: re-save the checkpoint, or
    upgrade unified for a newer version. Also a ValueError and a BundleError."""


def user_frame() -> types.FrameType | None:
    """The innermost frame outside the unified package (the user's code), or None."""
    dirs = _package_dirs()
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(dirs) and not filename.startswith("<frozen"):
            return frame
        frame = frame.f_back
    return None


def where() -> str:
    """'file.py:42' of the user's frame ('' when there is none)."""
    frame = user_frame()
    if frame is None:
        return ""
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def attach_location(exc: BaseException) -> BaseException:
    """Append ' at file.py:42' to the message and a note quoting the user's line (once)."""
    if getattr(exc, "_unified_located", False):
        return exc
    frame = user_frame()
    exc._unified_located = True  # type: ignore[attr-defined]
    if frame is None:
        return exc
    filename = frame.f_code.co_filename
    line = frame.f_lineno
    location = f"{os.path.basename(filename)}:{line}"
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} at {location}",) + exc.args[1:]
    source = linecache.getline(filename, line).strip()
    exc.add_note(f"  at {filename}:{line} in {frame.f_code.co_name}:    {source}")
    return exc


USER_ERRORS = (ValueError, TypeError, IndexError, KeyError, RuntimeError, OverflowError)


def located(fn):
    """Wrap a public function so that any error it raises names the caller's file:line."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            attach_location(exc)
            raise

    wrapper.__wrapped_public__ = True
    return wrapper


def fmt_shape(shape: tuple[int, ...]) -> str:
    """(8, 3, 32, 32) as users write it; () for a scalar."""
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"
