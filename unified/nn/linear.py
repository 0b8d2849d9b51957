"""Linear (y = x W^T + b) and Identity, with PyTorch's default initialization: weight
kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Convolutions are in
conv.py; the math is F.linear (unified/functional/linalg.py)."""

from __future__ import annotations

import math
from typing import Any

from unified import functional as F
from unified.creation import empty
from unified.errors import ShapeError, fmt_shape
from unified.nn import init
from unified.nn.module import Module
from unified.nn.parameter import Parameter
from unified.tensor import Tensor


class Identity(Module):
    """Returns its input (accepts and ignores any constructor arguments, like PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x @ weight.T + bias over the last dimension of x.

    >>> import unified as U
    >>> fc = U.nn.Linear(4, 3)
    >>> fc.weight.shape, fc.bias.shape, fc(U.ones(2, 4)).shape
    ((3, 4), (3,), (2, 3))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dtype,
                                      device=device))
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            got = "a 0-d tensor" if input.ndim == 0 else f"{input.shape[-1]} features"
            raise ShapeError(f"{self!r}: input has {got}, expected {self.in_features} (input "
                             f"shape {fmt_shape(input.shape)})")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
