"""Shape functions with PyTorch's names: views (reshape, view, flatten, permute, transpose,
squeeze, unsqueeze, expand, narrow, split, chunk) and copies (cat, stack, pad, repeat).
Ops in unified/ops/shape.py; indexing (getitem, gather, embedding) is in indexing.py."""

from __future__ import annotations

import builtins
import operator

import numpy as np

from unified.dispatch import apply
from unified.dtypes import promote
from unified.errors import ShapeError, fmt_shape
from unified.ops import shape as ops
from unified.ops.infer import normalize_axis
from unified.tensor import Tensor

__all__ = [
    "broadcast_to", "cat", "chunk", "concat", "concatenate", "expand", "flatten", "movedim",
    "narrow", "pad", "permute", "repeat", "reshape", "select", "split", "squeeze", "stack",
    "swapaxes", "t", "transpose", "unflatten", "unsqueeze", "view",
]

_MAX_CAT_INPUTS = 15  # _core.run takes at most 16 operands per call


def _ints(name: str, values) -> tuple[int, ...]:
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {values!r}") from None


def _dim(op: str, dim, ndim: int) -> int:
    return normalize_axis(op, operator.index(dim), ndim)


def reshape(input: Tensor, shape) -> Tensor:
    """The same elements in `shape` (one -1 is inferred): a view when possible, else a copy.

    >>> import unified as U
    >>> U.arange(6).reshape(2, -1).shape
    (2, 3)
    """
    return apply(ops.reshape, (input,), {"shape": _ints("reshape: shape", shape)})


def view(input: Tensor, shape) -> Tensor:
    """Like reshape, but raises when the input's strides do not allow a view (PyTorch's rule)."""
    shape = _ints("view: shape", shape)
    resolved = ops.resolve_shape("view", input.shape, shape)
    if ops.reshape_view(input._data, resolved) is None:
        raise RuntimeError(
            f"view: input of shape {fmt_shape(input.shape)} and strides {input.stride()} cannot "
            f"be viewed as {fmt_shape(resolved)} without a copy; use .reshape(...) instead")
    return apply(ops.reshape, (input,), {"shape": resolved})


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (a 0-d input becomes 1-d)."""
    if input.ndim == 0:
        return reshape(input, (1,))
    start = _dim("flatten", start_dim, input.ndim)
    end = _dim("flatten", end_dim, input.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = input.shape
    merged = int(np.prod(shape[start:end + 1]))
    return reshape(input, shape[:start] + (merged,) + shape[end + 1:])


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    d = _dim("unflatten", dim, input.ndim)
    shape = input.shape
    sizes = ops.resolve_shape("unflatten", (shape[d],), _ints("unflatten: sizes", sizes))
    return reshape(input, shape[:d] + sizes + shape[d + 1:])


def permute(input: Tensor, dims) -> Tensor:
    """Reorder the dimensions (always a view)."""
    return apply(ops.permute, (input,), {"dims": _ints("permute: dims", dims)})


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    ndim = input.ndim
    if ndim == 0:
        return permute(input, ())
    d0, d1 = _dim("transpose", dim0, ndim), _dim("transpose", dim1, ndim)
    dims = list(range(ndim))
    dims[d0], dims[d1] = d1, d0
    return permute(input, dims)


swapaxes = transpose


def t(input: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dims (PyTorch's .t())."""
    if input.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape "
                         f"{fmt_shape(input.shape)}; use transpose(dim0, dim1)")
    return permute(input, tuple(range(input.ndim - 1, -1, -1)))


def movedim(input: Tensor, source: int, destination: int) -> Tensor:
    ndim = input.ndim
    s, d = _dim("movedim", source, ndim), _dim("movedim", destination, ndim)
    dims = [i for i in range(ndim) if i != s]
    dims.insert(d, s)
    return permute(input, dims)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at `dim` (a view)."""
    d = _dim("unsqueeze", dim, input.ndim + 1)
    shape = input.shape
    return reshape(input, shape[:d] + (1,) + shape[d:])


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Remove size-1 dimensions (all of them, or those in `dim`, an int or tuple)."""
    shape = input.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {_dim("squeeze", d, input.ndim) for d in _ints("squeeze: dim", dim)}
        dims = {d for d in dims if shape[d] == 1}
    return reshape(input, tuple(s for i, s in enumerate(shape) if i not in dims))


def expand(input: Tensor, *sizes) -> Tensor:
    """Broadcast size-1 dims to `sizes` (-1 keeps a size): a stride-0 view, no copy."""
    if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)):
        sizes = sizes[0]
    return apply(ops.expand, (input,), {"shape": _ints("expand: sizes", sizes)})


def broadcast_to(input: Tensor, shape) -> Tensor:
    return expand(input, tuple(shape))


def _slice_dim(input: Tensor, d: int, start: int, stop: int, step: int = 1,
               squeeze: bool = False) -> Tensor:
    """input[..., start:stop:step, ...] on dim d (normalized bounds) through the slice op."""
    shape = input.shape
    starts = tuple(start if i == d else 0 for i in range(len(shape)))
    stops = tuple(stop if i == d else n for i, n in enumerate(shape))
    steps = tuple(step if i == d else 1 for i in range(len(shape)))
    return apply(ops.slice_, (input,), {"starts": starts, "stops": stops, "steps": steps,
                                        "squeeze": (d,) if squeeze else ()})


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """input[..., start:start+length, ...] on `dim` (a view)."""
    d = _dim("narrow", dim, input.ndim)
    n = input.shape[d]
    start = operator.index(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} do not fit dimension {d} "
                         f"of size {n} (input {fmt_shape(input.shape)})")
    return _slice_dim(input, d, start, start + length)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """input[..., index, ...] on `dim`, removing that dim (a view)."""
    d = _dim("select", dim, input.ndim)
    n = input.shape[d]
    i = operator.index(index)
    if not -n <= i < n:
        raise IndexError(f"select: index {index} is out of range for dimension {d} with size {n}")
    i %= n
    return _slice_dim(input, d, i, i + 1, squeeze=True)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of `tensor` along `dim` (views): of size split_size (the last may be smaller) or
    of the listed sizes."""
    d = _dim("split", dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else []) or [0]
    else:
        sizes = list(_ints("split: sections", split_size_or_sections))
        if builtins.sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sections {tuple(sizes)} must be non-negative and sum to "
                             f"{n}, the size of dimension {d} (input {fmt_shape(tensor.shape)})")
    pieces, offset = [], 0
    for s in sizes:
        pieces.append(_slice_dim(tensor, d, offset, offset + s))
        offset += s
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of equal size (the last may be smaller), as PyTorch does."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = input.shape[_dim("chunk", dim, input.ndim)]
    return split(input, max(1, -(-n // chunks)), dim)


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate tensors along `dim` (dtypes are promoted as in PyTorch).

    >>> import unified as U
    >>> U.cat([U.zeros(2, 3), U.ones(1, 3)]).shape
    (3, 3)
    """
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("cat: expected a non-empty sequence of Tensors")
    dtype = tensors[0].dtype
    for x in tensors[1:]:
        dtype = promote(dtype, x.dtype)
    from unified.functional.math import cast

    tensors = [x if x.dtype == dtype else cast(x, dtype) for x in tensors]
    # PyTorch's legacy rule: 1-d empty tensors are skipped when the others are not 1-d
    if any(x.ndim != 1 for x in tensors):
        kept = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)]
        tensors = kept or tensors
    dim = operator.index(dim)
    while len(tensors) > _MAX_CAT_INPUTS:
        tensors = [apply(ops.cat, tuple(tensors[i:i + _MAX_CAT_INPUTS]), {"dim": dim})
                   for i in range(0, len(tensors), _MAX_CAT_INPUTS)]
    return apply(ops.cat, tuple(tensors), {"dim": dim})


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim `dim`."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    first = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != first:
            raise ShapeError(f"stack: tensor {i} has shape {fmt_shape(x.shape)} but tensor 0 "
                             f"has {fmt_shape(first)}; stack needs equal shapes")
    d = _dim("stack", dim, len(first) + 1)
    return cat([unsqueeze(x, d) for x in tensors], d)


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """torch.nn.functional.pad: `pad` = (left, right) pairs from the last dim backwards.

    >>> import unified as U
    >>> U.pad(U.ones(1, 2), (1, 0)).tolist()
    [[0.0, 1.0, 1.0]]
    """
    pad = _ints("pad: pad", pad)
    if mode not in ops.PAD_MODES:
        raise ValueError(f"pad: mode must be one of {ops.PAD_MODES}, got '{mode}'")
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only used in constant mode, got mode '{mode}'")
    value = 0.0 if value is None else builtins.float(value)
    return apply(ops.pad, (input,), {"pad": pad, "mode": mode, "value": value})


def repeat(input: Tensor, sizes) -> Tensor:
    """Tile `input` sizes[i] times along dim i (PyTorch's Tensor.repeat): an expand of an
    interleaved reshape, then a reshape (which copies), so its gradient is expand's."""
    sizes = _ints("repeat: sizes", sizes)
    if len(sizes) < input.ndim:
        raise ShapeError(f"repeat: got {len(sizes)} repeat counts for input of shape "
                         f"{fmt_shape(input.shape)}; need at least {input.ndim}")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: counts must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    inter = tuple(v for s in shape for v in (1, s))
    target = tuple(v for r, s in zip(sizes, shape) for v in (r, s))
    tiled = expand(reshape(input, inter), target)
    return reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))
