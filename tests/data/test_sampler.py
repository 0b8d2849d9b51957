"""Tests for unified/data/sampler.py."""

import pytest

import unified as U
from unified.data import BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler


def test_sequential_sampler_counts_up():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]


def test_random_sampler_is_a_permutation_and_reseeds_per_epoch():
    g = U.Generator().manual_seed(0)
    sampler = RandomSampler(range(20), generator=g)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20))
    assert first != second  # a new order each epoch
    g.manual_seed(0)
    assert list(sampler) == first


def test_random_sampler_with_replacement_stays_in_range():
    sampler = RandomSampler(range(3), replacement=True, num_samples=50,
                            generator=U.Generator().manual_seed(0))
    drawn = list(sampler)
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}


def test_subset_random_sampler_permutes_the_given_indices():
    drawn = list(SubsetRandomSampler([5, 9, 11], generator=U.Generator().manual_seed(0)))
    assert sorted(drawn) == [5, 9, 11]


@pytest.mark.parametrize("drop_last, expected", [(False, [[0, 1, 2], [3, 4, 5], [6]]),
                                                 (True, [[0, 1, 2], [3, 4, 5]])])
def test_batch_sampler_groups_and_drops_last(drop_last, expected):
    sampler = BatchSampler(range(7), batch_size=3, drop_last=drop_last)
    assert list(sampler) == expected
    assert len(sampler) == len(expected)


def test_batch_sampler_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size=0"):
        BatchSampler(range(3), batch_size=0, drop_last=False)
