"""A counter bumped whenever any Module's training flag or set of child modules changes, so a
trace can key its cache on the training flags of a module tree without walking the tree on
every call (tracer/trace.py). Children live in a `ChildDict`, an OrderedDict that bumps the
counter on every change, whichever path makes it (setattr, add_module, containers)."""

from __future__ import annotations

from collections import OrderedDict

_epoch = [0]


def epoch() -> int:
    return _epoch[0]


def bump() -> None:
    _epoch[0] += 1


class ChildDict(OrderedDict):
    def __setitem__(self, key, value) -> None:
        bump()
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        bump()
        super().__delitem__(key)

    def clear(self) -> None:
        bump()
        super().clear()

    def pop(self, *args):
        bump()
        return super().pop(*args)

    def popitem(self, last: bool = True):
        bump()
        return super().popitem(last)

    def setdefault(self, key, default=None):
        bump()
        return super().setdefault(key, default)

    def move_to_end(self, key, last: bool = True) -> None:
        bump()
        super().move_to_end(key, last)
