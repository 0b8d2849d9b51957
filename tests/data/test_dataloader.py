"""Tests for unified/data/dataloader.py: batching, shuffle reproducibility, drop_last, collate
of tuples and dicts, custom collate_fn, batch_size=None and iterable datasets."""

import numpy as np
import pytest

import unified as U
from unified.data import DataLoader, Dataset, IterableDataset, TensorDataset


def _dataset(n=10):
    x = U.tensor(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
    return TensorDataset(x, U.arange(n))


def test_batches_in_order_with_a_short_last_batch():
    loader = DataLoader(_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[1]
    np.testing.assert_array_equal(x.numpy(), np.arange(8, 16, dtype=np.float32).reshape(4, 2))
    assert y.tolist() == [4, 5, 6, 7] and y.dtype == U.int64


def test_drop_last_drops_the_short_batch():
    loader = DataLoader(_dataset(), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_shuffle_is_a_permutation_reproducible_from_the_seed():
    def epoch_orders(seed):
        loader = DataLoader(_dataset(), batch_size=3, shuffle=True,
                            generator=U.Generator().manual_seed(seed))
        return [[v for _, y in loader for v in y.tolist()] for _ in range(2)]

    first, second = epoch_orders(5)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert first != second  # each epoch draws a new order
    assert epoch_orders(5) == [first, second]


def test_shuffle_with_the_global_seed_repeats():
    U.manual_seed(11)
    a = [y.tolist() for _, y in DataLoader(_dataset(), batch_size=5, shuffle=True)]
    U.manual_seed(11)
    b = [y.tolist() for _, y in DataLoader(_dataset(), batch_size=5, shuffle=True)]
    assert a == b


def test_tensor_dataset_fast_path_equals_stacking_samples():
    ds = _dataset(7)
    order = [6, 0, 3]
    fast = DataLoader(ds, batch_size=3, sampler=order)
    slow = DataLoader(ds, batch_size=3, sampler=order, collate_fn=U.data.default_collate)
    (xf, yf), = list(fast)
    (xs, ys), = list(slow)
    np.testing.assert_array_equal(xf.numpy(), xs.numpy())
    np.testing.assert_array_equal(yf.numpy(), [6, 0, 3])


def test_tensor_dataset_subclass_keeps_its_getitem():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2.0, y

    (x, y), = list(DataLoader(Doubled(U.ones(3, 2), U.arange(3)), batch_size=3))
    assert x.tolist() == [[2.0, 2.0]] * 3 and y.tolist() == [0, 1, 2]


class _DictDataset(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"image": np.full((2, 2), i, np.float32), "label": i, "name": f"s{i}"}


def test_dict_samples_collate_per_key():
    batch = next(iter(DataLoader(_DictDataset(), batch_size=2)))
    assert batch["image"].shape == (2, 2, 2) and batch["image"].dtype == U.float32
    assert batch["label"].tolist() == [0, 1] and batch["name"] == ["s0", "s1"]


def test_custom_collate_fn_gets_the_list_of_samples():
    loader = DataLoader(_DictDataset(), batch_size=3, collate_fn=lambda b: [s["label"] for s in b])
    assert list(loader) == [[0, 1, 2], [3, 4]]


def test_batch_size_none_converts_single_samples():
    items = list(DataLoader(_DictDataset(), batch_size=None))
    assert len(items) == 5 and isinstance(items[3]["image"], U.Tensor)
    assert items[3]["label"] == 3


class _Stream(IterableDataset):
    def __iter__(self):
        return iter(range(7))


def test_iterable_dataset_is_batched_in_order():
    assert [b.tolist() for b in DataLoader(_Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="shuffle=True"):
        DataLoader(_Stream(), shuffle=True)


def test_conflicting_options_raise_at_the_callers_line():
    with pytest.raises(ValueError, match="mutually exclusive") as info:
        DataLoader(_dataset(), sampler=[0, 1], shuffle=True)
    assert "test_dataloader.py" in str(info.value)
