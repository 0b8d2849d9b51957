"""Tests for unified/data/collate.py: default_collate of tensors, arrays, numbers, tuples,
lists, dicts and namedtuples, following torch.utils.data.default_collate's rules."""

import collections

import numpy as np
import pytest

import unified as U
from unified import dispatch
from unified.data import default_collate, default_convert


def test_tensors_are_stacked_along_a_new_first_dim():
    batch = default_collate([U.tensor([1.0, 2.0]), U.tensor([3.0, 4.0]), U.tensor([5.0, 6.0])])
    np.testing.assert_array_equal(batch.numpy(), [[1, 2], [3, 4], [5, 6]])


def test_tensor_stack_goes_through_the_dispatcher():
    seen = []
    with dispatch.observe(lambda op, *_: seen.append(op.name)):
        default_collate([U.ones(2), U.zeros(2)])
    assert "cat" in seen


def test_numbers_arrays_and_strings():
    assert default_collate([1, 2, 3]).dtype == U.int64
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == U.float32 and floats.tolist() == [0.5, 1.5]
    assert default_collate([True, False]).tolist() == [True, False]
    arrays = default_collate([np.ones((2, 2), np.uint8), np.zeros((2, 2), np.uint8)])
    assert arrays.shape == (2, 2, 2) and arrays.dtype == U.uint8
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_tuples_become_lists_of_batches():
    out = default_collate([(U.tensor([1.0]), 0), (U.tensor([2.0]), 1)])
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_array_equal(out[0].numpy(), [[1.0], [2.0]])
    assert out[1].tolist() == [0, 1]


def test_dicts_collate_per_key_recursively():
    out = default_collate([{"x": U.tensor([1, 2]), "meta": {"id": 7, "tag": "a"}},
                           {"x": U.tensor([3, 4]), "meta": {"id": 8, "tag": "b"}}])
    assert out["x"].tolist() == [[1, 2], [3, 4]]
    assert out["meta"]["id"].tolist() == [7, 8] and out["meta"]["tag"] == ["a", "b"]


def test_namedtuples_keep_their_type():
    Pair = collections.namedtuple("Pair", "image label")
    out = default_collate([Pair(U.zeros(2), 1), Pair(U.ones(2), 2)])
    assert isinstance(out, Pair) and out.label.tolist() == [1, 2]


def test_unequal_shapes_name_the_samples():
    with pytest.raises(ValueError, match=r"sample 0 is \(2,\) and sample 1 is \(3,\)"):
        default_collate([U.zeros(2), U.zeros(3)])


def test_unequal_sequence_lengths_raise():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_default_convert_turns_arrays_into_tensors():
    out = default_convert({"a": np.arange(3), "b": [np.float32(1.5)], "c": "s"})
    assert isinstance(out["a"], U.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"][0], U.Tensor) and out["c"] == "s"
