"""Gradient recording on/off: `no_grad()`, `enable_grad()`, `set_grad_enabled(flag)`, usable as
context managers and decorators. The flag lives in a ContextVar (per thread and per task)."""

from __future__ import annotations

import contextvars
import functools

GRAD_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("grad_enabled", default=True)


def is_grad_enabled() -> bool:
    return GRAD_ENABLED.get()


class set_grad_enabled:
    """Turn gradient recording on or off inside a `with` block (or for a decorated function).

    >>> import unified as U
    >>> with U.set_grad_enabled(False):
    ...     U.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> "set_grad_enabled":
        self._tokens.append(GRAD_ENABLED.set(self.mode))
        return self

    def __exit__(self, *exc) -> None:
        GRAD_ENABLED.reset(self._tokens.pop())

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """Disable gradient recording (inference, optimizer updates).

    >>> import unified as U
    >>> x = U.ones(2, requires_grad=True)
    >>> with U.no_grad():
    ...     (x * 2).requires_grad
    False
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Enable gradient recording, e.g. inside a `no_grad` block."""

    def __init__(self) -> None:
        super().__init__(True)
