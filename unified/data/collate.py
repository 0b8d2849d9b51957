"""default_collate / default_convert (torch.utils.data's rules): a list of samples becomes one
batch, recursing into dicts, tuples, lists and namedtuples. Tensors are stacked with
`unified.stack` (registered ops, so a traced step sees them); NumPy arrays and Python numbers
are plain data and are stacked by NumPy into a new tensor (no op runs on tensor data there)."""

from __future__ import annotations

import collections.abc
import copy
from typing import Any

import numpy as np

from unified.creation import as_array
from unified.errors import ShapeError, fmt_shape
from unified.tensor import Tensor, wrap

_STR_TYPES = (str, bytes)


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch; differences from PyTorch: Python floats give
    float32 (there is no float64), and float64 arrays are stored as float32.

    >>> import unified as U
    >>> x, y = U.data.default_collate([(U.tensor([1.0, 2.0]), 0), (U.tensor([3.0, 4.0]), 1)])
    >>> x.tolist(), y.tolist(), y.dtype
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1], dtype('int64'))
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray) and elem.dtype.kind not in "OSUV":
        return _stack_plain(batch, elem.shape)
    if isinstance(elem, (np.bool_, np.number)):
        return wrap(as_array(np.stack(batch), copy=False))
    if isinstance(elem, bool):  # before int: True is an int
        return wrap(np.array(batch, np.bool_))
    if isinstance(elem, (int, float)):
        return wrap(as_array(batch))
    if isinstance(elem, _STR_TYPES):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _collate_mapping(batch, elem)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        return _collate_sequence(batch, elem)
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts "
                    f"or lists; found {type(elem).__name__}")


def _stack_tensors(batch: list) -> Tensor:
    from unified.functional.shape import stack

    first = batch[0].shape
    for i, t in enumerate(batch):
        if not isinstance(t, Tensor) or t.shape != first:
            got = fmt_shape(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ShapeError(f"default_collate: stack expects each tensor to be equal size, but "
                             f"sample 0 is {fmt_shape(first)} and sample {i} is {got}")
    return stack(batch, 0)


def _stack_plain(batch: list, first: tuple) -> Tensor:
    for i, a in enumerate(batch):
        if np.shape(a) != first:
            raise ShapeError(f"default_collate: stack expects each array to be equal size, but "
                             f"sample 0 is {fmt_shape(first)} and sample {i} is "
                             f"{fmt_shape(np.shape(a))}")
    return wrap(as_array(np.stack(batch), copy=False))


def _collate_mapping(batch: list, elem: collections.abc.Mapping) -> Any:
    out = {key: default_collate([d[key] for d in batch]) for key in elem}
    if type(elem) is dict:
        return out
    try:
        clone = copy.copy(elem)
        clone.update(out)  # type: ignore[attr-defined]
        return clone
    except (TypeError, AttributeError):  # the mapping type cannot be copied or updated
        return out


def _collate_sequence(batch: list, elem: collections.abc.Sequence) -> Any:
    size = len(elem)
    for i, sample in enumerate(batch):
        if len(sample) != size:
            raise RuntimeError(f"default_collate: each element in list of batch should be of "
                               f"equal size; sample 0 has {size} items, sample {i} has "
                               f"{len(sample)}")
    columns = [default_collate(list(s)) for s in zip(*batch)]
    if isinstance(elem, tuple):
        return columns  # PyTorch returns a list for tuples too
    try:
        return type(elem)(columns)
    except TypeError:
        return columns


def default_convert(data: Any) -> Any:
    """Per-sample conversion used when batch_size=None: NumPy arrays and numbers become
    tensors; containers are converted recursively; anything else is returned as is."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return wrap(as_array(data, copy=False))
    if isinstance(data, (np.bool_, np.number)):
        return wrap(as_array(data))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data
