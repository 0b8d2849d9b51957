"""Indexing with PyTorch's semantics: getitem/setitem (ints, slices with positive steps, None,
Ellipsis, integer tensors/lists, bool masks), index_select, gather, embedding, masked_fill.
A key becomes a `slice` view (ops/shape.py), a reshape for None, then one `index` op for the
integer tensors (ops/index.py); setitem writes with slice_scatter, index_put or masked_fill
in place (dispatch.apply_inplace). Bool masks are turned into indices by reading the mask."""

from __future__ import annotations

import builtins
import operator
from dataclasses import dataclass, field

import numpy as np

from unified.dispatch import apply, apply_inplace
from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops import index as ops
from unified.ops import shape as shape_ops
from unified.ops.infer import broadcast_shapes
from unified.tensor import Tensor, wrap

__all__ = ["embedding", "gather", "getitem", "index_select", "masked_fill", "masked_fill_",
           "setitem"]

_I64 = np.dtype(np.int64)
_INDEX_KINDS = "iu"


@dataclass
class _Key:
    """A parsed key: a normalized slice per input dim, None positions, index tensors."""

    starts: list = field(default_factory=list)
    stops: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    squeeze: list = field(default_factory=list)
    nones: list = field(default_factory=list)  # positions of new size-1 dims
    advanced: list = field(default_factory=list)  # (position, int index tensor)

    def add_range(self, bounds: tuple[int, int, int]) -> None:
        self.starts.append(bounds[0])
        self.stops.append(bounds[1])
        self.steps.append(bounds[2])

    def slice_attrs(self) -> dict:
        return {"starts": tuple(self.starts), "stops": tuple(self.stops),
                "steps": tuple(self.steps), "squeeze": tuple(self.squeeze)}

    def is_full(self, shape: tuple) -> bool:
        return (not self.squeeze and not self.nones and all(self.steps[d] == 1 and
                self.starts[d] == 0 and self.stops[d] == n for d, n in enumerate(shape)))


def _classify(item):
    """One key item as (kind, value); kinds: int, slice, none, ellipsis, index, mask."""
    if item is None:
        return "none", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, builtins.slice):
        return "slice", item
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("indexing with a Python bool is not supported; use a bool tensor mask")
    if isinstance(item, (int, np.integer)):
        return "int", int(item)
    if isinstance(item, (list, tuple, np.ndarray)):
        array = np.asarray(item)
        if array.dtype == np.bool_:
            return "mask", wrap(array)
        if array.size == 0 or array.dtype.kind in _INDEX_KINDS:
            return "index", wrap(array.astype(_I64))
        raise DTypeError(f"index arrays must be integer or bool, got {array.dtype}")
    if isinstance(item, Tensor):
        if item.dtype == np.bool_:
            return "mask", item
        if item.dtype not in (np.int64, np.int32):
            raise DTypeError(f"tensors used as indices must be int64, int32 or bool, got "
                             f"{item.dtype} (shape {fmt_shape(item.shape)})")
        return "index", item
    raise TypeError(f"invalid index of type {type(item).__name__}: {item!r}; use ints, slices, "
                    "None, ..., or int/bool tensors")


def _expand_ellipsis(items: list, ndim: int) -> list:
    consumed = builtins.sum(v.ndim if k == "mask" else 1 for k, v in items
                            if k not in ("none", "ellipsis"))
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim} ({consumed} given)")
    ellipses = [i for i, (k, _) in enumerate(items) if k == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [("slice", builtins.slice(None))] * (ndim - consumed)
    if ellipses:
        i = ellipses[0]
        return items[:i] + fill + items[i + 1:]
    return items + fill


def _int_range(value: int, d: int, n: int) -> tuple[int, int, int]:
    if not -n <= value < n:
        raise IndexError(f"index {value} is out of bounds for dimension {d} with size {n}")
    return value % n, value % n + 1, 1


def _slice_range(value: builtins.slice, n: int) -> tuple[int, int, int]:
    if value.step is not None and operator.index(value.step) <= 0:
        raise ValueError(f"step must be greater than zero, got {value.step} (negative steps "
                         "are not supported; use flip)")
    start, stop, step = value.indices(n)
    return start, max(start, stop), step


def _parse(x: Tensor, key) -> _Key:
    """Walk the key: d is the input dim, pos the dim of the sliced tensor with Nones added."""
    raw = key if isinstance(key, tuple) else (key,)
    items = _expand_ellipsis([_classify(item) for item in raw], x.ndim)
    shape = x.shape
    parsed = _Key()
    d = pos = 0
    for kind, value in items:
        if kind == "none":
            parsed.nones.append(pos)
            pos += 1
        elif kind == "mask":
            _mask_indices(parsed, value, shape, d, pos)
            d += value.ndim
            pos += value.ndim
        else:
            if kind == "int":
                parsed.add_range(_int_range(value, d, shape[d]))
                parsed.squeeze.append(d)
            elif kind == "slice":
                parsed.add_range(_slice_range(value, shape[d]))
            else:  # an index tensor: keep the whole dim, index it afterwards
                parsed.add_range((0, shape[d], 1))
                parsed.advanced.append((pos, value.to(x.device)))  # a list's index: x's device
            pos += kind != "int"
            d += 1
    return parsed


def _mask_indices(parsed: _Key, mask: Tensor, shape: tuple, d: int, pos: int) -> None:
    """A bool mask over dims d..d+m-1 becomes m index tensors (reads the mask's values)."""
    m = mask.ndim
    if m == 0:
        raise IndexError("0-d boolean masks are not supported as indices")
    if tuple(mask.shape) != tuple(shape[d:d + m]):
        raise IndexError(f"the shape of the mask {fmt_shape(mask.shape)} at index {d} does not "
                         f"match the shape of the indexed tensor {fmt_shape(shape)}")
    for j, positions in enumerate(np.nonzero(mask._data)):
        parsed.add_range((0, shape[d + j], 1))
        parsed.advanced.append((pos + j, wrap(positions.astype(_I64))))


def _basic(x: Tensor, parsed: _Key, keep_trivial: bool) -> Tensor:
    """The slice view plus the None dims (the part of a key that never copies)."""
    view = x
    if keep_trivial or not parsed.is_full(x.shape):
        view = apply(shape_ops.slice_, (x,), parsed.slice_attrs())
    if parsed.nones:
        new_shape = list(view.shape)
        for p in parsed.nones:
            new_shape.insert(p, 1)
        view = apply(shape_ops.reshape, (view,), {"shape": tuple(new_shape)})
    return view


def getitem(input: Tensor, key) -> Tensor:
    """input[key] (PyTorch semantics: ints, slices, None and ... give views; int/bool tensors
    copy). Integers next to index tensors act as plain indexing, as in PyTorch.

    >>> import unified as U
    >>> x = U.arange(12).reshape(3, 4)
    >>> x[1:, ::2].tolist()
    [[4, 6], [8, 10]]
    >>> x[U.tensor([2, 0]), -1].tolist()
    [11, 3]
    """
    parsed = _parse(input, key)
    view = _basic(input, parsed, keep_trivial=not parsed.advanced)
    if not parsed.advanced:
        return view
    indices = tuple(t for _, t in parsed.advanced)
    dims = tuple(p for p, _ in parsed.advanced)
    return apply(ops.index, (view,) + indices, {"dims": dims})


def _value_tensor(value, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype == like.dtype:
            return value
        from unified.functional.math import cast

        return cast(value, like.dtype)
    return wrap(np.asarray(value, dtype=like.dtype))


def _broadcast_value(value: Tensor, shape: tuple) -> Tensor:
    if tuple(value.shape) == tuple(shape):
        return value
    try:
        if broadcast_shapes("setitem", value.shape, shape) != tuple(shape):
            raise ShapeError("")
    except ShapeError:
        raise ShapeError(f"setitem: value of shape {fmt_shape(value.shape)} cannot be broadcast "
                         f"to the indexing result of shape {fmt_shape(shape)}") from None
    return apply(shape_ops.expand, (value,), {"shape": tuple(shape)})


def setitem(input: Tensor, key, value) -> None:
    """input[key] = value, in place (value broadcasts; dtypes are converted to input's)."""
    if (isinstance(key, Tensor) and key.dtype == np.bool_ and not isinstance(value, Tensor)
            and key.shape == input.shape):
        apply_inplace(ops.masked_fill, input, (key,), {"value": builtins.float(value)})
        return
    parsed = _parse(input, key)
    value = _value_tensor(value, input)
    if not parsed.advanced:
        sliced = shape_ops._slice_shape("setitem", input.shape, parsed.starts, parsed.stops,
                                        parsed.steps, parsed.squeeze)
        full = list(sliced)
        for p in parsed.nones:
            full.insert(p, 1)
        src = _broadcast_value(value, tuple(full))
        if tuple(src.shape) != sliced:
            src = apply(shape_ops.reshape, (src,), {"shape": sliced})
        apply_inplace(shape_ops.slice_scatter, input, (src,), parsed.slice_attrs())
        return
    indices = tuple(t for _, t in parsed.advanced)
    dims = tuple(p for p, _ in parsed.advanced)
    target = input
    if not parsed.is_full(input.shape):
        if input.requires_grad or value.requires_grad:
            raise RuntimeError(
                "setitem: a key that mixes ints, slices or None with index tensors is not "
                "supported on tensors that require grad; index with tensors only (or use "
                "torch-style index_put on a clone)")
        target = _basic(input, parsed, keep_trivial=False)
    result_shape = ops.index_shape("setitem", target.shape, indices, dims)
    src = _broadcast_value(value, result_shape)
    apply_inplace(ops.index_put, target, (src,) + indices, {"dims": dims, "accumulate": 0})


def _require_tensor(fn: str, name: str, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(value).__name__}")


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Entries of input at the positions in `index` (1-d int tensor) along `dim`."""
    _require_tensor("index_select", "index", index)
    return apply(ops.index_select, (input, index), {"dim": operator.index(dim)})


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] for dim=0 (torch.gather); out has index's shape.

    >>> import unified as U
    >>> U.gather(U.tensor([[1, 2], [3, 4]]), 1, U.tensor([[1], [0]])).tolist()
    [[2], [3]]
    """
    _require_tensor("gather", "index", index)
    return apply(ops.gather, (input, index), {"dim": operator.index(dim)})


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` at the ids in `input` (torch.nn.functional.embedding); the row at
    padding_idx gets no gradient. max_norm, scale_grad_by_freq and sparse are not supported."""
    _require_tensor("embedding", "input", input)
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported")
    pad = -1
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings {n}")
        pad = operator.index(padding_idx) % n
    return apply(ops.embedding, (input, weight), {"padding_idx": pad})


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """`input` with `value` where the bool `mask` (broadcast to input) is true.

    >>> import unified as U
    >>> x = U.tensor([1.0, 2.0, 3.0])
    >>> x.masked_fill(x > 1.5, 0.0).tolist()
    [1.0, 0.0, 0.0]
    """
    _require_tensor("masked_fill", "mask", mask)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: a tensor value must be 0-d, got shape "
                             f"{fmt_shape(value.shape)}")
        from unified.functional.math import where

        return where(mask, value if value.dtype == input.dtype else _value_tensor(value, input),
                     input)
    return apply(ops.masked_fill, (input, mask), {"value": builtins.float(value)})


def masked_fill_(input: Tensor, mask: Tensor, value) -> Tensor:
    """In-place masked_fill (the mask must broadcast to input's shape)."""
    _require_tensor("masked_fill_", "mask", mask)
    return apply_inplace(ops.masked_fill, input, (mask,), {"value": builtins.float(value)})
