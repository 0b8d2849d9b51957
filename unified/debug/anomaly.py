"""Anomaly detection: stop at the first op (forward or backward) whose floating output holds NaN
or Inf, and name it in the user's terms.

1. detect_anomaly() (or set_detect_anomaly(True)) adds one observer to the dispatcher's
   OBSERVERS and one tracker to nn/hooks.py's MODULE_TRACKERS. While off, nothing runs: the
   dispatcher already reads OBSERVERS after each op, Module.__call__ reads MODULE_TRACKERS.
2. The tracker keeps the stack of modules being called, so an op knows its module path
   ("features.3.conv", names from the outermost module's named_modules()).
3. After every op the observer stores, for each new autograd node, its creation site (the
   user's file:line and function, the module path) in autograd.CREATED, so that a backward op
   can name the forward op it belongs to and where that was created (PyTorch keeps forward
   tracebacks only in anomaly mode too).
4. It tests floating outputs with np.isfinite; on the first hit it raises AnomalyError with
   the op, how many values went bad, the inputs' statistics, forward or backward, the module
   path and the line.
Limits: eager only (a traced function called in anomaly mode raises TraceError); threads
started inside the block have their own context and are not checked."""

from __future__ import annotations

import contextvars
import linecache
import os
import sys
from typing import Any

import numpy as np

from unified.autograd import CREATED, CURRENT
from unified.dispatch import OBSERVERS
from unified.errors import AnomalyError, _package_dirs
from unified.nn.hooks import MODULE_TRACKERS

_ACTIVE: contextvars.ContextVar["_Anomaly | None"] = contextvars.ContextVar("anomaly",
                                                                           default=None)


def is_anomaly_enabled() -> bool:
    """True while detect_anomaly() (or set_detect_anomaly(True)) is on in this context."""
    return _ACTIVE.get() is not None


class detect_anomaly:  # noqa: N801  (PyTorch's name; a context manager and a decorator)
    """Check every op's floating outputs for NaN/Inf, forward and backward, inside the block;
    the first hit raises unified.AnomalyError naming the op, module path and line. Slows every
    op (each output is scanned); costs nothing once the block is left.

    >>> import unified as U
    >>> x = U.tensor([1.0, 0.0], requires_grad=True)
    >>> with U.debug.detect_anomaly():
    ...     y = x.log()
    Traceback (most recent call last):
    unified.errors.AnomalyError: log produced -inf (1 of 2 values; input min 0, max 1) ...
    """

    def __init__(self) -> None:
        self._tokens: tuple | None = None

    def __enter__(self) -> "detect_anomaly":
        if _ACTIVE.get() is None:  # nested blocks share the outer one
            self._tokens = _install(_Anomaly())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._tokens is not None:
            active, observers, trackers = self._tokens
            MODULE_TRACKERS.reset(trackers)
            OBSERVERS.reset(observers)
            _ACTIVE.reset(active)
            self._tokens = None

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly():
                return fn(*args, **kwargs)

        return wrapper


def set_detect_anomaly(mode: bool) -> None:
    """The global switch (PyTorch's torch.autograd.set_detect_anomaly): on or off for the rest
    of this context (the main thread's, in a script). Prefer `with detect_anomaly():`."""
    active = _ACTIVE.get()
    if mode and active is None:
        _install(_Anomaly())
    elif not mode and active is not None:
        OBSERVERS.set(tuple(cb for cb in OBSERVERS.get() if cb is not active))
        MODULE_TRACKERS.set(tuple(t for t in MODULE_TRACKERS.get() if t is not active))
        _ACTIVE.set(None)


def _install(anomaly: "_Anomaly") -> tuple:
    return (_ACTIVE.set(anomaly), OBSERVERS.set(OBSERVERS.get() + (anomaly,)),
            MODULE_TRACKERS.set(MODULE_TRACKERS.get() + (anomaly,)))


class _Anomaly:
    """The observer (called as the dispatcher calls observers) and the module tracker."""

    def __init__(self) -> None:
        self.stack: list = []  # modules being called, outermost first
        self.paths: dict[int, dict[int, str]] = {}  # id(root) -> {id(module): dotted name}

    # ---- module tracker -------------------------------------------------------------------
    def enter(self, module: Any) -> None:
        self.stack.append(module)

    def exit(self, module: Any, output: Any) -> None:
        if self.stack and self.stack[-1] is module:
            self.stack.pop()

    def module_path(self) -> str:
        """'features.3.conv (Conv2d)' for the innermost module being called, '' outside any."""
        if not self.stack:
            return ""
        root, inner = self.stack[0], self.stack[-1]
        names = self.paths.get(id(root))
        if names is None or id(inner) not in names:
            names = self.paths[id(root)] = {id(m): n for n, m in root.named_modules()}
        name = names.get(id(inner)) or ""
        kind = type(inner).__name__
        return f"{name} ({kind})" if name else kind

    # ---- op observer ----------------------------------------------------------------------
    def __call__(self, op: Any, inputs: tuple, attrs: Any, result: Any, **_: Any) -> None:
        if _ACTIVE.get() is not self:  # switched off by set_detect_anomaly(False) in a block
            return
        outputs = result if isinstance(result, tuple) else (result,)
        site = None
        for t in outputs:
            node = t._grad_fn
            if node is not None and node not in CREATED:
                site = site or self._site()
                CREATED[node] = site
        for t in outputs:
            array = t._data
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise _anomaly_error(op, inputs, array, site or self._site())

    def _site(self) -> dict:
        frame = _user_frame()
        if frame is None:
            return {"file": "", "line": 0, "function": "", "module": self.module_path()}
        return {"file": frame.f_code.co_filename, "line": frame.f_lineno,
                "function": frame.f_code.co_qualname, "module": self.module_path()}


_OURS: dict = {}  # code object -> whether it lies in the unified package (errors.user_frame)


def _user_frame():
    """errors.user_frame(), with the per-file test cached by code object (it runs per op)."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        ours = _OURS.get(code)
        if ours is None:
            if len(_OURS) > 4096:  # code made by exec/eval keeps coming: stay bounded
                _OURS.clear()
            filename = os.path.abspath(code.co_filename)
            ours = _OURS[code] = filename.startswith(_package_dirs()) or \
                filename.startswith("<frozen")
        if not ours:
            return frame
        frame = frame.f_back
    return None


def _stats(array: np.ndarray) -> dict:
    """min/max/mean over the finite values, and the NaN/+Inf/-Inf counts."""
    flat = array.reshape(-1)
    finite = flat[np.isfinite(flat)]
    return {
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.mean(dtype=np.float64)) if finite.size else None,
        "nan": int(np.isnan(flat).sum()),
        "inf": int(np.isposinf(flat).sum()),
        "-inf": int(np.isneginf(flat).sum()),
        "size": int(flat.size),
    }


def _bad_kinds(stats: dict) -> str:
    return " and ".join(k for k in ("nan", "inf", "-inf") if stats[k])


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _describe(name: str, t: Any) -> str:
    array = t._data
    text = f"{name}: {array.dtype}{list(array.shape)}"
    if array.dtype.kind not in "fiub" or array.size == 0:
        return text
    s = _stats(array.astype(np.float64) if array.dtype.kind != "f" else array)
    text += f" min {_num(s['min'])} max {_num(s['max'])} mean {_num(s['mean'])}"
    bad = [f"{s[k]} {k}" for k in ("nan", "inf", "-inf") if s[k]]
    return text + (" (" + ", ".join(bad) + ")" if bad else "")


def _input_range(inputs: tuple) -> tuple[str, bool]:
    """'input min 0, max 1' over the floating inputs, and whether any was already non-finite."""
    lows, highs, already_bad = [], [], False
    for t in inputs:
        array = getattr(t, "_data", None)
        if array is None or array.dtype.kind != "f" or array.size == 0:
            continue
        s = _stats(array)
        already_bad |= bool(s["nan"] or s["inf"] or s["-inf"])
        if s["min"] is not None:
            lows.append(s["min"])
            highs.append(s["max"])
    if not lows:
        return "no floating inputs", already_bad
    word = "input" if len(lows) == 1 else "inputs"
    return f"{word} min {_num(min(lows))}, max {_num(max(highs))}", already_bad


def _anomaly_error(op: Any, inputs: tuple, array: np.ndarray, site: dict) -> AnomalyError:
    """Steps: what went bad, forward or backward (with the forward op's site), then a note."""
    s = _stats(array)
    count = s["nan"] + s["inf"] + s["-inf"]
    in_range, already_bad = _input_range(inputs)
    node = CURRENT[0]
    if node is not None:
        forward = CREATED.get(node) or {}
        phase = f"backward of {node.op.name}"
        where_site = forward if forward else site
    else:
        phase, where_site = "forward", site
    text = (f"{op.name} produced {_bad_kinds(s)} ({count} of {s['size']} values; {in_range}) "
            f"in {phase}")
    if where_site.get("module"):
        text += f", module {where_site['module']}"
    if where_site.get("file"):
        text += (f", created at {os.path.basename(where_site['file'])}:{where_site['line']} in "
                 f"{where_site['function']}")
    exc = AnomalyError(text)
    exc._unified_located = True  # type: ignore[attr-defined]  # the location is in the text
    exc.op = op.name  # type: ignore[attr-defined]
    exc.phase = phase  # type: ignore[attr-defined]
    exc.module_path = where_site.get("module", "")  # type: ignore[attr-defined]
    exc.filename = where_site.get("file", "")  # type: ignore[attr-defined]
    exc.lineno = where_site.get("line", 0)  # type: ignore[attr-defined]
    names = getattr(op, "inputs", ())
    lines = [f"  {_describe(names[i] if i < len(names) else f'input {i}', t)}"
             for i, t in enumerate(inputs) if hasattr(t, "_data")]
    if where_site.get("file"):
        source = linecache.getline(where_site["file"], where_site["line"]).strip()
        lines.insert(0, f"  at {where_site['file']}:{where_site['line']} in "
                        f"{where_site['function']}:    {source}")
    if already_bad:
        lines.append("  an input was already non-finite: the bad values came from outside the "
                     "checked ops (the data, a parameter, or a tensor made before the block)")
    exc.add_note("\n".join(lines))
    return exc
