"""DistributedSampler: shards of equal length that cover the dataset, the same seeded order on
every rank, set_epoch, drop_last, and use through DataLoader (no MPI needed)."""

import pytest

import unified as U
from unified.data import DataLoader, TensorDataset
from unified.distributed import DistributedSampler


def shards(n, replicas, **kw):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw))
            for r in range(replicas)]


def test_shards_are_equal_length_and_cover_the_dataset_with_padding():
    parts = shards(10, 3, shuffle=False)
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]  # padded with 0, 1
    assert all(len(p) == 4 for p in parts)


def test_shuffled_shards_are_disjoint_and_the_same_order_on_every_rank():
    parts = shards(12, 3, seed=7)
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(12))
    assert parts != shards(12, 3, shuffle=False)
    assert parts == shards(12, 3, seed=7)  # each rank computes the same permutation
    assert parts != shards(12, 3, seed=8)


def test_set_epoch_changes_the_order_reproducibly():
    s = DistributedSampler(range(20), num_replicas=2, rank=0, seed=1)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert first != second and sorted(first) != sorted(range(20))
    s.set_epoch(0)
    assert list(s) == first


def test_drop_last_trims_to_an_equal_share():
    parts = shards(10, 3, shuffle=False, drop_last=True)
    assert parts == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert len(DistributedSampler(range(10), 3, 0, drop_last=True)) == 3


def test_more_replicas_than_samples_repeats_the_data():
    parts = shards(2, 5, shuffle=False)
    assert parts == [[0], [1], [0], [1], [0]]


def test_invalid_rank_is_rejected_with_the_range():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)


def test_defaults_come_from_the_process_group():
    s = DistributedSampler(range(4))  # not initialized (or a local world): rank 0 of 1
    assert (s.rank, s.num_replicas) == (0, 1) and sorted(s) == [0, 1, 2, 3]


def test_dataloader_batches_one_rank_share():
    data = TensorDataset(U.arange(8).float(), U.arange(8))
    sampler = DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    batches = [y.tolist() for _, y in DataLoader(data, batch_size=2, sampler=sampler)]
    assert batches == [[1, 3], [5, 7]]
