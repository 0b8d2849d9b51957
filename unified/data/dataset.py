"""Datasets with torch.utils.data's names: Dataset, IterableDataset, TensorDataset, Subset,
ConcatDataset and random_split (a seeded permutation from unified's Philox generator, so a
split is the same on every machine). Batching is in dataloader.py, index order in sampler.py."""

from __future__ import annotations

import bisect
import math
import warnings
from typing import Generic, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from unified.errors import attach_location, fmt_shape, located
from unified.random import Generator
from unified.tensor import Tensor

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses define `__getitem__(index)` and usually `__len__`.

    >>> import unified as U
    >>> class Squares(U.data.Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return i * i
    >>> [Squares()[i] for i in range(4)]
    [0, 1, 4, 9]
    """

    def __getitem__(self, index) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: "Dataset[T_co]") -> "ConcatDataset[T_co]":
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A dataset that is a stream: subclasses define `__iter__`. The DataLoader batches it in
    order (shuffle and samplers do not apply, as in PyTorch)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset does not support +; chain the iterators instead")


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Sample i is `tuple(t[i] for t in tensors)`; every tensor must have the same first dim.

    >>> import unified as U
    >>> ds = U.data.TensorDataset(U.arange(6).reshape(3, 2), U.tensor([7, 8, 9]))
    >>> len(ds), [t.tolist() for t in ds[2]]
    (3, [[4, 5], 9])
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise attach_location(ValueError("TensorDataset: needs at least one tensor"))
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor) or t.ndim == 0:
                what = type(t).__name__ if not isinstance(t, Tensor) else "a 0-d tensor"
                raise attach_location(TypeError(
                    f"TensorDataset: argument {i} must be a tensor with a first dimension, got "
                    f"{what}"))
        first = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != first:
                raise attach_location(ValueError(
                    f"TensorDataset: size mismatch between tensors: tensor 0 has shape "
                    f"{fmt_shape(tensors[0].shape)}, tensor {i} has {fmt_shape(t.shape)} "
                    f"({first} != {t.shape[0]} samples)"))
        self.tensors = tuple(tensors)

    def __getitem__(self, index) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _get_batch(self, index: Tensor) -> list[Tensor]:
        """The collated batch for int64 indices: one index_select per tensor (what
        default_collate of the samples would give, without a per-sample op)."""
        return [t.index_select(0, index) for t in self.tensors]


class Subset(Dataset[T_co]):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """The datasets one after another (`ds1 + ds2`)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise attach_location(ValueError("ConcatDataset: datasets should not be empty"))
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise attach_location(TypeError(
                    "ConcatDataset does not support IterableDataset"))
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"ConcatDataset: index {idx} out of range for length "
                                 f"{len(self)}")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if which == 0 else self.cumulative_sizes[which - 1]
        return self.datasets[which][idx - start]


@located
def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset[T_co]]:
    """Split `dataset` into non-overlapping random subsets of the given lengths, or of the
    given fractions (summing to 1; leftover samples go one each to the first subsets, as in
    PyTorch). The order comes from `unified.randperm(len(dataset), generator=generator)`, so
    the same seed gives the same split everywhere (the numbers differ from PyTorch's).

    >>> import unified as U
    >>> a, b = U.data.random_split(range(10), [0.8, 0.2], generator=U.Generator().manual_seed(0))
    >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
    (8, 2, True)
    """
    from unified.functional.random import randperm

    n = len(dataset)  # type: ignore[arg-type]
    lengths = _split_lengths(n, list(lengths))
    order = randperm(n, generator=generator).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets


def _split_lengths(n: int, lengths: list) -> list[int]:
    """Integer lengths from lengths or fractions; checks they add up to n."""
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1: "
                                 f"{frac}")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):  # round-robin the remainder, like PyTorch
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=4)
        return counts
    for i, x in enumerate(lengths):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
            raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                             f"summing to 1; got {x!r} at index {i} of {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths {lengths} is {sum(lengths)}, which "
                         f"does not equal the length of the input dataset ({n})")
    return [int(x) for x in lengths]
