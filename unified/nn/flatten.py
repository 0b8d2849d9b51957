"""Flatten and Unflatten: reshape modules for the step between conv features and a Linear
head (F.flatten / F.unflatten in unified/functional/shape.py)."""

from __future__ import annotations

from unified import functional as F
from unified.nn.module import Module
from unified.tensor import Tensor


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one (by default all but the batch dim).

    >>> import unified as U
    >>> U.nn.Flatten()(U.ones(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        return F.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
