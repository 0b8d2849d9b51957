"""Tests for unified/data/dataset.py: TensorDataset, Subset, ConcatDataset, random_split."""

import numpy as np
import pytest

import unified as U
from unified.data import ConcatDataset, Subset, TensorDataset, random_split


def test_tensor_dataset_indexes_every_tensor():
    x = U.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    y = U.tensor([10, 11, 12, 13])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi.numpy(), [6.0, 7.0, 8.0])
    assert yi.item() == 12


def test_tensor_dataset_rejects_mismatched_first_dims():
    with pytest.raises(ValueError, match=r"tensor 1 has \(3,\) \(4 != 3 samples\)") as info:
        TensorDataset(U.zeros(4, 2), U.zeros(3))
    assert "test_dataset.py" in str(info.value)


def test_subset_and_concat_map_indices():
    base = list(range(10, 20))
    sub = Subset(base, [3, 0, 7])
    assert [sub[i] for i in range(len(sub))] == [13, 10, 17]
    both = ConcatDataset([sub, Subset(base, [1])])
    assert len(both) == 4
    assert [both[i] for i in range(4)] == [13, 10, 17, 11]
    assert both[-1] == 11


def test_random_split_lengths_partition_the_dataset():
    parts = random_split(range(10), [3, 7], generator=U.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))


def test_random_split_fractions_round_robin_the_remainder():
    # floor(11 * 0.5) = 5 and floor(11 * 0.5) = 5: the 1 left over goes to the first split
    parts = random_split(range(11), [0.5, 0.5], generator=U.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [6, 5]


def test_random_split_is_reproducible_and_matches_randperm():
    a = random_split(range(8), [4, 4], generator=U.Generator().manual_seed(3))
    b = random_split(range(8), [4, 4], generator=U.Generator().manual_seed(3))
    assert list(a[0]) == list(b[0]) and list(a[1]) == list(b[1])
    order = U.randperm(8, generator=U.Generator().manual_seed(3)).tolist()
    assert list(a[0]) + list(a[1]) == order


def test_random_split_bad_lengths_name_the_values():
    with pytest.raises(ValueError, match=r"sum of input lengths \[3, 3\] is 6.*\(10\)"):
        random_split(range(10), [3, 3])
