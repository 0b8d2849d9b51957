"""Reductions (sum, mean, max, min, argmax, argmin, var, std, logsumexp, all, any) over any
dims with keepdim, and sum_to (the reduction that undoes broadcasting in gradients).
Ops in unified/ops/reduce.py; kernels in core_cpp/kernels/reduce.cpp."""

from __future__ import annotations

from unified.tensor import Tensor

__all__ = ["sum_to"]


def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `g` over the dims that broadcasting added or stretched, giving `shape`."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    from unified.functional.shape import reshape

    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
    )
    if dims:
        g = sum(g, dims, keepdim=True)
    return reshape(g, shape)
