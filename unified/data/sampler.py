"""Samplers with torch.utils.data's names: the order in which a DataLoader visits a map-style
dataset (SequentialSampler, RandomSampler, SubsetRandomSampler) and how indices are grouped
into batches (BatchSampler). Shuffling draws from unified's Philox generator (randperm)."""

from __future__ import annotations

from typing import Generic, Iterable, Iterator, Sequence, Sized, TypeVar

import numpy as np

from unified.errors import attach_location
from unified.random import Generator

T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Base class: `__iter__` yields dataset indices (or lists of them for batch samplers)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


def _permutation(n: int, generator: Generator | None) -> list[int]:
    from unified.functional.random import randperm

    return randperm(n, generator=generator).tolist()


class RandomSampler(Sampler[int]):
    """A new random order of the dataset each epoch (each `iter()`), drawn from `generator`
    (default: the global generator, so `unified.manual_seed(s)` makes epochs reproducible).
    With replacement=True, `num_samples` indices drawn uniformly with replacement.

    >>> import unified as U
    >>> order = list(U.data.RandomSampler(range(5), generator=U.Generator().manual_seed(0)))
    >>> sorted(order)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise attach_location(TypeError(
                f"RandomSampler: replacement should be a boolean value, got {replacement!r}"))
        if not isinstance(self.num_samples, (int, np.integer)) or self.num_samples <= 0:
            raise attach_location(ValueError(
                f"RandomSampler: num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"))

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.replacement:
            from unified.functional.random import randint

            return iter(randint(0, n, (self.num_samples,), generator=self.generator).tolist())
        order: list[int] = []
        for _ in range(-(-self.num_samples // n)):  # num_samples may exceed n: whole epochs
            order += _permutation(n, self.generator)
        return iter(order[:self.num_samples])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a new random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter([self.indices[i] for i in _permutation(len(self.indices), self.generator)])

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of `sampler` into lists of `batch_size`; the last, shorter list is
    dropped when drop_last=True.

    >>> import unified as U
    >>> list(U.data.BatchSampler(range(5), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise attach_location(ValueError(
                f"BatchSampler: batch_size should be a positive integer value, but got "
                f"batch_size={batch_size!r}"))
        if not isinstance(drop_last, bool):
            raise attach_location(ValueError(
                f"BatchSampler: drop_last should be a boolean value, but got "
                f"drop_last={drop_last!r}"))
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
