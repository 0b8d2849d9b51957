"""DistributedSampler (torch.utils.data.distributed.DistributedSampler's API): each rank
visits its own 1/world_size share of a map-style dataset. The order is a permutation seeded
by `seed + epoch` (the same on every rank, so the shares never overlap; call `set_epoch` each
epoch for a new one), padded by repeating its start so every rank gets the same number of
samples (or trimmed with drop_last=True); rank r takes every world_size-th index from r."""

from __future__ import annotations

import math
from typing import Iterator, Sized

from unified.data.sampler import Sampler
from unified.distributed.process_group import get_rank, get_world_size


class DistributedSampler(Sampler[int]):
    """Indices of rank `rank`'s share of `dataset` (defaults: this process's rank and the
    world size).

    >>> s = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
    >>> list(s), len(s)
    ([1, 3, 0], 3)
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        num_replicas = get_world_size() if num_replicas is None else int(num_replicas)
        rank = get_rank() if rank is None else int(rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            from unified.functional.random import randperm
            from unified.random import Generator

            generator = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=generator).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad > 0 and indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch `epoch` (shuffle=True): call it at the start of each epoch."""
        self.epoch = int(epoch)
