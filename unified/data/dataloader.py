"""DataLoader with torch.utils.data.DataLoader's signature: batches a dataset through a sampler
and a collate function. Loading runs in the calling process (num_workers and the other worker
and pinning options are accepted and ignored). Datasets are in dataset.py, orders in sampler.py,
batching rules in collate.py."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from unified.data.collate import default_collate, default_convert
from unified.data.dataset import Dataset, IterableDataset, TensorDataset
from unified.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from unified.errors import attach_location
from unified.random import Generator
from unified.tensor import wrap

_log = logging.getLogger(__name__)


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` (PyTorch's arguments and defaults).

    shuffle=True draws a new order every epoch from `generator` (default: the global one, so
    `unified.manual_seed` makes runs repeat). With the default collate_fn, a TensorDataset
    batch is one `index_select` per tensor instead of a stack of per-sample views (same
    values). Differences from PyTorch: no worker processes (num_workers > 0 loads in this
    process), pin_memory is a no-op (CPU only), Python floats collate to float32.

    >>> import unified as U
    >>> ds = U.data.TensorDataset(U.arange(10).float(), U.arange(10))
    >>> [len(y) for x, y in U.data.DataLoader(ds, batch_size=4)]
    [4, 4, 2]
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler | Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable[[list], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "") -> None:
        try:
            _check_options(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last,
                           num_workers)
        except (ValueError, TypeError) as exc:
            raise attach_location(exc) from None
        if num_workers > 0:
            _log.info("DataLoader: num_workers=%d ignored; loading runs in this process",
                      num_workers)
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if batch_sampler is not None:
            batch_size, drop_last, shuffle = None, False, False
        elif sampler is None and not self._iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        auto_batching = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn or (default_collate if auto_batching else default_convert)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            return self._iter_stream()
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        return (self._fetch(indices) for indices in self.batch_sampler)

    def _fetch(self, indices: list) -> Any:
        if self.collate_fn is default_collate and isinstance(self.dataset, TensorDataset) \
                and type(self.dataset).__getitem__ is TensorDataset.__getitem__:
            return self.dataset._get_batch(wrap(np.asarray(indices, np.int64)))
        return self.collate_fn([self.dataset[i] for i in indices])

    def _iter_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            yield from (self.collate_fn(item) for item in self.dataset)
            return
        batch: list = []
        for item in self.dataset:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]


def _check_options(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last,
                   num_workers) -> None:
    """PyTorch's argument checks, with the values in the message."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers option should be non-negative; use "
                         f"num_workers=0 to disable multiprocessing, got {num_workers!r}")
    if isinstance(dataset, IterableDataset):
        if shuffle not in (None, False):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                             f"option, but got shuffle={shuffle}")
        if sampler is not None or batch_sampler is not None:
            raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and "
                             "batch_sampler options")
        return
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                      or drop_last):
        raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                         "batch_size, shuffle, sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                         "mutually exclusive with drop_last")
    if not hasattr(dataset, "__getitem__"):
        raise TypeError(f"DataLoader: dataset must support indexing (dataset[i]) or be an "
                        f"IterableDataset, got {type(dataset).__name__}")
