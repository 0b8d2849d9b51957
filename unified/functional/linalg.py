"""Matrix products with PyTorch's names: matmul (also `@`), mm, bmm, mv, dot and
torch.nn.functional.linear. The first five run the `matmul` op, linear runs the `linear` op
(both in unified/ops/matmul.py). Convolutions are in conv.py."""

from __future__ import annotations



from unified.creation import zero_bias
from unified.dispatch import apply
from unified.errors import ShapeError, fmt_shape
from unified.ops import matmul as ops
from unified.tensor import Tensor

__all__ = ["bmm", "dot", "linear", "matmul", "mm", "mv"]


def _require(name: str, ok: bool, message: str) -> None:
    if not ok:
        raise ShapeError(f"{name}: {message}")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with broadcasting batch dims (1-D operands act as a row / a column).

    >>> import unified as U
    >>> (U.tensor([[1.0, 2.0]]) @ U.tensor([[3.0], [4.0]])).tolist()
    [[11.0]]
    """
    return apply(ops.matmul, (input, other))


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """(n, m) @ (m, p) -> (n, p); both must be 2-D (no broadcasting)."""
    _require("mm", input.ndim == 2 and mat2.ndim == 2,
             f"expected 2-D tensors, got input {fmt_shape(input.shape)} and mat2 "
             f"{fmt_shape(mat2.shape)}")
    return apply(ops.matmul, (input, mat2))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """(b, n, m) @ (b, m, p) -> (b, n, p); both 3-D with the same batch size."""
    _require("bmm", input.ndim == 3 and mat2.ndim == 3 and input.shape[0] == mat2.shape[0],
             f"expected 3-D tensors with one batch size, got input {fmt_shape(input.shape)} "
             f"and mat2 {fmt_shape(mat2.shape)}")
    return apply(ops.matmul, (input, mat2))


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """(n, m) @ (m,) -> (n,)."""
    _require("mv", input.ndim == 2 and vec.ndim == 1,
             f"expected a 2-D matrix and a 1-D vector, got input {fmt_shape(input.shape)} "
             f"and vec {fmt_shape(vec.shape)}")
    return apply(ops.matmul, (input, vec))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of one length (a 0-d result)."""
    _require("dot", input.ndim == 1 and other.ndim == 1,
             f"expected 1-D tensors, got input {fmt_shape(input.shape)} and other "
             f"{fmt_shape(other.shape)}")
    return apply(ops.matmul, (input, other))


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias, with weight of shape (out_features, in_features).

    >>> import unified as U
    >>> U.linear(U.ones(2, 3), U.ones(4, 3), U.zeros(4)).shape
    (2, 4)
    """
    if bias is None:
        bias = zero_bias(weight.shape[0] if weight.ndim == 2 else 0)
    return apply(ops.linear, (input, weight, bias))  # its infer rule checks the shapes

