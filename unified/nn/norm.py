"""Normalization layers: BatchNorm1d/BatchNorm2d (running statistics as buffers, momentum,
num_batches_tracked), LayerNorm and GroupNorm, with PyTorch's arguments and init (weight 1,
bias 0). The math is F.batch_norm / F.layer_norm / F.group_norm (unified/functional/norm.py)."""

from __future__ import annotations

from unified import functional as F
from unified.creation import empty, ones, tensor, zeros
from unified.errors import ShapeError, fmt_shape
from unified.grad_mode import no_grad
from unified.nn import init
from unified.nn.module import Module
from unified.nn.parameter import Parameter
from unified.tensor import Tensor


class _BatchNorm(Module):
    _input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(empty(self.num_features, dtype=dtype, device=device))
            self.bias = Parameter(empty(self.num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features))
            self.register_buffer("running_var", ones(self.num_features))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        if input.ndim not in self._input_dims:
            dims = " or ".join(f"{d}-D" for d in self._input_dims)
            raise ShapeError(f"{self._get_name()}: expected {dims} input, got shape "
                             f"{fmt_shape(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ShapeError(f"{self!r}: input has {input.shape[1]} channels, expected "
                             f"{self.num_features} (input shape {fmt_shape(input.shape)})")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average (reads the count back)
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats and input.numel() // input.shape[1] <= 1:
            raise ValueError(f"{self._get_name()}: expected more than 1 value per channel when "
                             f"training, got input shape {fmt_shape(input.shape)}")
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input per channel C.

    >>> import unified as U
    >>> bn = U.nn.BatchNorm1d(2)
    >>> [round(v, 3) for v in bn(U.tensor([[1.0, 2.0], [3.0, 6.0]]))[:, 0].tolist()]
    [-1.0, 1.0]
    >>> [round(v, 3) for v in bn.running_mean.tolist()]
    [0.2, 0.4]
    """

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input per channel C (statistics over N, H, W)."""

    _input_dims = (4,)


class LayerNorm(Module):
    """Normalize over the trailing `normalized_shape` dims, then scale and shift elementwise.

    >>> import unified as U
    >>> ln = U.nn.LayerNorm(2)
    >>> [round(v, 3) for v in ln(U.tensor([[1.0, 3.0]])).flatten().tolist()]
    [-1.0, 1.0]
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if tuple(input.shape[input.ndim - k:]) != self.normalized_shape or input.ndim < k:
            raise ShapeError(f"{self!r}: input's trailing dims {fmt_shape(input.shape[-k:])} do "
                             f"not match normalized_shape {fmt_shape(self.normalized_shape)} "
                             f"(input shape {fmt_shape(input.shape)})")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalize (N, C, ...) input over groups of C / num_groups channels.

    >>> import unified as U
    >>> U.nn.GroupNorm(2, 4)(U.randn(3, 4, 5, 5)).shape
    (3, 4, 5, 5)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = Parameter(ones(self.num_channels, dtype=dtype))
            self.bias = Parameter(zeros(self.num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ShapeError(f"{self!r}: expected (N, {self.num_channels}, ...) input, got shape "
                             f"{fmt_shape(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
