"""nn.Parameter: a Tensor subclass that a Module registers as a trainable weight when assigned
as an attribute. It shares memory (and the in-place version counter) with the data it wraps
and requires grad by default, like torch.nn.Parameter. Modules are in module.py."""

from __future__ import annotations

import copy
from typing import Any

from unified.creation import as_array
from unified.tensor import Tensor, version_counter


class Parameter(Tensor):
    """A tensor that is a module parameter (`requires_grad=True` unless told otherwise).

    >>> import unified as U
    >>> p = U.nn.Parameter(U.zeros(2))
    >>> isinstance(p, U.Tensor), p.requires_grad, p.is_leaf
    (True, True, True)
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            self._data = data._data  # shares memory, like torch.nn.Parameter(t)
            self._vc = version_counter(data)
        else:
            self._data = as_array(data if data is not None else [], None)
            self._vc = None
        self.grad = None
        self._grad_fn = None
        self._out_index = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._data, self.requires_grad))

    def __deepcopy__(self, memo: dict) -> "Parameter":
        if id(self) in memo:
            return memo[id(self)]
        copied = Parameter(self._data.copy(), self.requires_grad)
        if self.grad is not None:
            copied.grad = Tensor(self.grad._data.copy())
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return copied


def _rebuild_parameter(array, requires_grad: bool) -> Parameter:
    return Parameter(Tensor(array), requires_grad)
