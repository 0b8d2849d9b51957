"""Convolutions with torch.nn.functional's names and defaults: conv2d (padding int, pair,
'same' or 'valid') and conv_transpose2d, over the ops in unified/ops/conv.py. Pooling and
interpolate are in pooling.py (re-exported here, so this module lists the whole family)."""

from __future__ import annotations

from unified.creation import zero_bias
from unified.dispatch import apply
from unified.functional import pooling
from unified.functional.pooling import *  # noqa: F403
from unified.ops import conv as ops
from unified.ops.registry import F
from unified.tensor import Tensor

__all__ = ["conv2d", "conv_transpose2d"] + pooling.__all__


def pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a 2-tuple; ValueError/TypeError naming the argument."""
    items = (value, value) if isinstance(value, int) else value
    if (not isinstance(items, (tuple, list)) or len(items) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return (int(items[0]), int(items[1]))


def _conv_padding(padding, kernel: tuple[int, int], stride, dilation) -> tuple[int, ...]:
    """(top, left, bottom, right); 'same' puts the odd extra row/column at the end, as PyTorch."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(
                f"conv2d: padding must be 'same', 'valid', an int or a pair, got {padding!r}")
        if stride != (1, 1):
            raise ValueError(
                f"conv2d: padding='same' is not supported for strided convolutions "
                f"(stride={stride})")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    ph, pw = pair("conv2d", "padding", padding, 0)
    return (ph, pw, ph, pw)


def _groups(op: str, groups) -> int:
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return groups


def _batched(op: str, input: Tensor):
    """Unbatched (C, H, W) input runs as a batch of one, as in PyTorch."""
    if input.ndim == 3:
        return F.unsqueeze(input, 0), True
    return input, False


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution of (N, C, H, W) input with (O, C / groups, KH, KW) weight.

    >>> import unified as U
    >>> U.conv2d(U.ones(1, 1, 4, 4), U.ones(1, 1, 3, 3), padding=1).shape
    (1, 1, 4, 4)
    """
    stride = pair("conv2d", "stride", stride, 1)
    dilation = pair("conv2d", "dilation", dilation, 1)
    kernel = tuple(weight.shape[2:4]) if weight.ndim == 4 else (1, 1)
    attrs = {"stride": stride, "padding": _conv_padding(padding, kernel, stride, dilation),
             "dilation": dilation, "groups": _groups("conv2d", groups)}
    x, unbatched = _batched("conv2d", input)
    if bias is None:
        bias = zero_bias(weight.shape[0] if weight.ndim else 0)
    out = apply(ops.conv2d, (x, weight, bias), attrs)
    return F.squeeze(out, 0) if unbatched else out


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input), with
    weight (C_in, C_out / groups, KH, KW).

    >>> import unified as U
    >>> U.conv_transpose2d(U.ones(1, 2, 3, 3), U.ones(2, 4, 2, 2), stride=2).shape
    (1, 4, 6, 6)
    """
    attrs = {"stride": pair("conv_transpose2d", "stride", stride, 1),
             "padding": pair("conv_transpose2d", "padding", padding, 0),
             "output_padding": pair("conv_transpose2d", "output_padding", output_padding, 0),
             "groups": _groups("conv_transpose2d", groups),
             "dilation": pair("conv_transpose2d", "dilation", dilation, 1)}
    x, unbatched = _batched("conv_transpose2d", input)
    if bias is None:
        channels = weight.shape[1] * attrs["groups"] if weight.ndim >= 2 else 0
        bias = zero_bias(channels)
    out = apply(ops.conv_transpose2d, (x, weight, bias), attrs)
    return F.squeeze(out, 0) if unbatched else out
