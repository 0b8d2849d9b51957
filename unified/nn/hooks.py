"""RemovableHandle: what Module.register_forward_hook / register_forward_pre_hook return;
`handle.remove()` (or leaving a `with handle:` block) unregisters the hook. The hooks run in
Module.__call__ (module.py)."""

from __future__ import annotations

import itertools

_next_id = itertools.count()


class RemovableHandle:
    """Removes one hook from the dicts it was registered in.

    >>> hooks = {}
    >>> handle = RemovableHandle(hooks)
    >>> hooks[handle.id] = print
    >>> handle.remove()
    >>> hooks
    {}
    """

    def __init__(self, *hooks_dicts: dict) -> None:
        self.id = next(_next_id)
        self._hooks_dicts = hooks_dicts

    def remove(self) -> None:
        for hooks in self._hooks_dicts:
            hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
