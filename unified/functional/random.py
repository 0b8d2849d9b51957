"""Random sampling with torch's names: randn, rand, randint, *_like, normal, bernoulli, randperm,
the in-place normal_/uniform_/bernoulli_, and dropout (F.dropout, dropout1d/2d/3d). Each call
draws its generator-state input (an int64 (seed, offset) tensor) from a Generator
(unified/random.py, re-exported here so that U.manual_seed etc. exist); ops in
unified/ops/random.py."""

from __future__ import annotations

import math

import numpy as np

from unified.dispatch import apply, apply_inplace
from unified.dtypes import as_dtype
from unified.errors import DTypeError
from unified.functional.math import _float, add, cast, mul, mul_
from unified.ops import nn as nn_ops
from unified.ops import random as ops
from unified.random import (
    Generator, get_rng_state, initial_seed, manual_seed, resolve, seed, set_rng_state,
)
from unified.tensor import Tensor, wrap

__all__ = [
    "Generator", "bernoulli", "bernoulli_", "dropout", "dropout1d", "dropout2d", "dropout3d",
    "get_rng_state", "initial_seed", "manual_seed", "normal", "normal_", "rand", "rand_like",
    "randint", "randint_like", "randn", "randn_like", "randperm", "seed", "set_rng_state",
    "uniform_",
]

_F32 = np.dtype(np.float32)


def _shape(op: str, size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{op}: size must be non-negative ints, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _float_out(op: str, dtype) -> None:
    if dtype is not None and as_dtype(dtype) != _F32:
        raise DTypeError(f"{op}: dtype must be float32, got {as_dtype(dtype)}")


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    return t.requires_grad_(True) if requires_grad else t


def _sample(op, shape: tuple, attrs: dict, generator, device=None) -> Tensor:
    state = resolve(generator).draw(math.prod(shape))
    if device is not None:  # the op runs where its state input is: the same stream on a GPU
        state = state.to(device)
    return apply(op, (state,), {"size": shape, **attrs})


def randn(*size, generator: Generator | None = None, dtype=None, device=None,
          requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution, shape `size`.

    >>> import unified as U
    >>> U.randn(2, 3).shape
    (2, 3)
    """
    _float_out("randn", dtype)
    shape = _shape("randn", size)
    return _finish(_sample(ops.normal, shape, {"mean": 0.0, "std": 1.0}, generator, device),
                   requires_grad)


def rand(*size, generator: Generator | None = None, dtype=None, device=None,
         requires_grad: bool = False) -> Tensor:
    """Samples uniform on [0, 1), shape `size`."""
    _float_out("rand", dtype)
    shape = _shape("rand", size)
    return _finish(_sample(ops.uniform, shape, {"low": 0.0, "high": 1.0}, generator, device),
                   requires_grad)


def _randint_args(args: tuple, size) -> tuple:
    if size is None:
        if len(args) < 2:
            raise TypeError("randint: expected (high, size) or (low, high, size)")
        args, size = args[:-1], args[-1]
    if len(args) == 1:
        return 0, args[0], size
    if len(args) == 2:
        return args[0], args[1], size
    raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args)} "
                    "positional arguments")


def randint(*args, size=None, generator: Generator | None = None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size).

    >>> import unified as U
    >>> x = U.randint(3, 7, (100,))
    >>> bool((x >= 3).all()) and bool((x < 7).all()), x.dtype
    (True, dtype('int64'))
    """
    low, high, size = _randint_args(args, size)
    shape = _shape("randint", tuple(size) if isinstance(size, (tuple, list)) else (size,))
    out_dtype = np.dtype(np.int64) if dtype is None else as_dtype(dtype)
    attrs = {"low": int(low), "high": int(high), "dtype": out_dtype.name}
    return _finish(_sample(ops.randint, shape, attrs, generator, device), requires_grad)


def randn_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(input.shape, dtype=dtype, requires_grad=requires_grad)


def rand_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(input.shape, dtype=dtype, requires_grad=requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, dtype=None,
                 requires_grad: bool = False) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator: Generator | None = None,
           requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std^2): floats with `size`, or tensors (broadcast; the result is
    mean + std * randn, differentiable in both).

    >>> import unified as U
    >>> U.normal(2.0, 0.5, (3,)).shape
    (3,)
    """
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise ValueError("normal: size must be None when mean or std is a tensor")
        if not isinstance(std, Tensor) and not std >= 0:
            raise ValueError(f"normal: std must be >= 0, got {std}")
        shape = np.broadcast_shapes(np.shape(getattr(mean, "_data", mean)),
                                    np.shape(getattr(std, "_data", std)))
        return add(mul(randn(shape, generator=generator), std), mean)
    if size is None:
        raise TypeError("normal: pass size when mean and std are numbers")
    shape = _shape("normal", tuple(size) if isinstance(size, (tuple, list)) else (size,))
    attrs = {"mean": float(mean), "std": float(std)}
    return _finish(_sample(ops.normal, shape, attrs, generator), requires_grad)


def _probabilities(p) -> Tensor:
    if isinstance(p, Tensor):
        return _float(p)
    if not isinstance(p, (int, float, np.number)) or isinstance(p, bool):
        raise TypeError(f"bernoulli: p must be a float or a tensor, got {type(p).__name__}")
    return wrap(np.array(p, _F32))


def bernoulli(input: Tensor, p: float | None = None, *,
              generator: Generator | None = None) -> Tensor:
    """1.0 with probability `input` (elementwise), else 0.0; with p, probability p everywhere.

    >>> import unified as U
    >>> U.bernoulli(U.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    probs = _probabilities(input if p is None else p)
    shape = tuple(input.shape)
    state = resolve(generator).draw(math.prod(shape))
    return apply(ops.bernoulli, (probs, state), {"size": shape})


def _fill(op, tensor: Tensor, inputs: tuple, attrs: dict, generator) -> Tensor:
    if tensor.dtype != _F32:
        raise DTypeError(f"{op.name}_: the tensor must be float32, got {tensor.dtype}")
    state = resolve(generator).draw(tensor.numel())
    return apply_inplace(op, tensor, inputs + (state,), {"size": tuple(tensor.shape), **attrs},
                         reads_target=False)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, *,
            generator: Generator | None = None) -> Tensor:
    """Fill `tensor` in place with N(mean, std^2) samples (any layout, e.g. a slice)."""
    return _fill(ops.normal, tensor, (), {"mean": float(mean), "std": float(std)}, generator)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, *,
             generator: Generator | None = None) -> Tensor:
    """Fill `tensor` in place with U[a, b) samples."""
    return _fill(ops.uniform, tensor, (), {"low": float(a), "high": float(b)}, generator)


def bernoulli_(tensor: Tensor, p=0.5, *, generator: Generator | None = None) -> Tensor:
    return _fill(ops.bernoulli, tensor, (_probabilities(p),), {}, generator)


def randperm(n: int, *, generator: Generator | None = None, dtype=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (the order of n uniform draws, by the topk op).

    >>> import unified as U
    >>> sorted(U.randperm(5).tolist())
    [0, 1, 2, 3, 4]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    keys = rand(int(n), generator=generator)
    _, order = apply(nn_ops.topk, (keys,), {"k": int(n), "dim": 0, "largest": 1})
    return order if dtype is None or as_dtype(dtype) == order.dtype else cast(order, dtype)


# ---- dropout -------------------------------------------------------------------------------------
def _check_p(op: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _dropout(op: str, input: Tensor, p, training: bool, inplace: bool, mask_shape) -> Tensor:
    p = _check_p(op, p)
    if input.dtype != _F32:
        raise DTypeError(f"{op}: input must be float32, got {input.dtype}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return mul_(input, 0.0) if inplace else mul(input, 0.0)
    keep = wrap(np.array(1.0 - p, _F32)).to(input.device)  # the mask is drawn on input's device
    shape = tuple(mask_shape)
    mask = apply(ops.bernoulli, (keep, resolve(None).draw(math.prod(shape))), {"size": shape})
    mask = mul(mask, 1.0 / (1.0 - p))
    return mul_(input, mask) if inplace else mul(input, mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (when training).

    >>> import unified as U, unified.functional as F
    >>> F.dropout(U.ones(4), p=0.5, training=False).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return _dropout("dropout", input, p, training, inplace, input.shape)


def _feature_dropout(op: str, input: Tensor, p, training, inplace, spatial: int) -> Tensor:
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}D or {spatial + 2}D input, got "
                         f"shape {tuple(input.shape)}")
    lead = input.ndim - spatial  # (C,) or (N, C): one draw per channel
    return _dropout(op, input, p, training, inplace, input.shape[:lead] + (1,) * spatial)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    return _feature_dropout("dropout1d", input, p, training, inplace, 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) input with probability p (scaled by 1/(1-p))."""
    return _feature_dropout("dropout2d", input, p, training, inplace, 2)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    return _feature_dropout("dropout3d", input, p, training, inplace, 3)
