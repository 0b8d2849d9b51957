"""Pooling and resizing with torch.nn.functional's names and defaults: max_pool2d,
avg_pool2d, adaptive_avg_pool2d and interpolate (nearest, bilinear) over NCHW tensors, using
the ops in unified/ops/pool.py and unified/ops/interpolate.py. Re-exported by conv.py."""

from __future__ import annotations

import math

from unified.dispatch import apply
from unified.ops import interpolate as resize_ops
from unified.ops import pool as ops
from unified.ops.registry import F
from unified.tensor import Tensor

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "interpolate", "max_pool2d"]


def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    from unified.functional.conv import pair

    return pair(op, name, value, minimum)


def _run_batched(op, input: Tensor, attrs: dict):
    """Unbatched (C, H, W) input runs as a batch of one, as in PyTorch."""
    if input.ndim != 3:
        return apply(op, (input,), attrs)
    out = apply(op, (F.unsqueeze(input, 0),), attrs)
    if isinstance(out, tuple):
        return tuple(F.squeeze(o, 0) for o in out)
    return F.squeeze(out, 0)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over kernel_size windows; with return_indices, also each maximum's flat index in
    its H*W plane (int64).

    >>> import unified as U
    >>> U.max_pool2d(U.arange(16.0).reshape(1, 1, 4, 4), 2).flatten().tolist()
    [5.0, 7.0, 13.0, 15.0]
    """
    kernel = _pair("max_pool2d", "kernel_size", kernel_size, 1)
    attrs = {"kernel_size": kernel,
             "stride": kernel if stride is None else _pair("max_pool2d", "stride", stride, 1),
             "padding": _pair("max_pool2d", "padding", padding, 0),
             "dilation": _pair("max_pool2d", "dilation", dilation, 1),
             "ceil_mode": int(bool(ceil_mode))}
    out, indices = _run_batched(ops.max_pool2d, input, attrs)
    return (out, indices) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows (padding counts when count_include_pad)."""
    kernel = _pair("avg_pool2d", "kernel_size", kernel_size, 1)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override < 1):
        raise ValueError(
            f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    attrs = {"kernel_size": kernel,
             "stride": kernel if stride is None else _pair("avg_pool2d", "stride", stride, 1),
             "padding": _pair("avg_pool2d", "padding", padding, 0),
             "ceil_mode": int(bool(ceil_mode)), "count_include_pad": int(bool(count_include_pad)),
             "divisor_override": divisor_override or 0}
    return _run_batched(ops.avg_pool2d, input, attrs)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean pooling to a fixed (OH, OW); None in output_size keeps that input size."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(input.shape[-2 + i] if s is None else s for i, s in enumerate(sizes))
    return _run_batched(ops.adaptive_avg_pool2d, input,
                        {"output_size": _pair("adaptive_avg_pool2d", "output_size", sizes, 1)})


def _interpolate_size(input: Tensor, size, scale_factor) -> tuple[tuple[int, int], tuple]:
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        return _pair("interpolate", "size", size, 1), (0.0, 0.0)
    factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
    if len(factors) != 2 or not all(isinstance(f, (int, float)) and f > 0 for f in factors):
        raise ValueError(
            f"interpolate: scale_factor must be a positive number or a pair, got {scale_factor!r}")
    factors = tuple(float(f) for f in factors)
    out = tuple(int(math.floor(input.shape[-2 + i] * factors[i])) for i in range(2))
    return _pair("interpolate", "size", out, 1), factors


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the H and W of a (N, C, H, W) tensor; mode 'nearest' or 'bilinear'.

    >>> import unified as U
    >>> U.interpolate(U.ones(1, 1, 2, 2), scale_factor=2).shape
    (1, 1, 4, 4)
    """
    if mode not in resize_ops.MODES:
        raise ValueError(
            f"interpolate: mode must be one of {resize_ops.MODES}, got {mode!r}")
    if input.ndim != 4:
        raise ValueError(
            f"interpolate: input must be 4-D (N, C, H, W), got shape {tuple(input.shape)}")
    if align_corners is not None and mode == "nearest":
        raise ValueError("interpolate: align_corners can only be set with mode='bilinear'")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    out_size, factors = _interpolate_size(input, size, scale_factor)
    if recompute_scale_factor:
        factors = (0.0, 0.0)
    attrs = {"size": out_size, "mode": mode, "align_corners": int(bool(align_corners)),
             "scale_factor": factors}
    return apply(resize_ops.interpolate, (input,), attrs)
