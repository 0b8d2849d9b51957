"""Tensor basics: creation, NumPy interop both ways, conversions, Python protocol methods."""

import numpy as np
import pytest

import unified as U


def test_tensor_from_list_infers_dtype():
    assert U.tensor([1.0, 2.0]).dtype == U.float32
    assert U.tensor([1, 2]).dtype == U.int64
    assert U.tensor([True, False]).dtype == U.bool


def test_float64_input_is_stored_as_float32():
    t = U.tensor(np.array([0.1, 0.2]))
    assert t.dtype == U.float32
    np.testing.assert_array_equal(t.numpy(), np.array([0.1, 0.2], np.float32))


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3, np.float32)
    copied = U.tensor(a)
    shared = U.from_numpy(a)
    a[0] = 5.0
    assert copied.tolist()[0] == 0.0
    assert shared.tolist()[0] == 5.0


def test_numpy_interop_both_ways():
    t = U.tensor([[1.0, 2.0], [3.0, 4.0]])
    arr = np.asarray(t)
    assert arr.shape == (2, 2) and arr.dtype == np.float32
    assert np.shares_memory(arr, t.numpy())
    r = np.ones(2, np.float32) + U.tensor([1.0, 2.0])  # ndarray on the left gives a Tensor
    assert isinstance(r, U.Tensor) and r.tolist() == [2.0, 3.0]


def test_numpy_of_tensor_requiring_grad_fails():
    with pytest.raises(RuntimeError, match="detach"):
        U.ones(2, requires_grad=True).numpy()


def test_item_and_tolist_and_scalars():
    t = U.tensor([[2.5]])
    assert t.item() == 2.5 and float(t) == 2.5
    assert U.tensor([3]).item() == 3 and int(U.tensor([3])) == 3
    with pytest.raises(ValueError, match="one-element"):
        U.ones(2).item()


def test_bool_of_multi_element_is_ambiguous():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(U.ones(2))
    assert bool(U.tensor([1.0]))


def test_metadata():
    t = U.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.stride() == (12, 4, 1)
    assert t.device == "cpu" and t.is_contiguous() and t.is_leaf


def test_dtype_conversions():
    t = U.tensor([1.7, -1.7, 0.0])
    assert t.long().tolist() == [1, -1, 0]
    assert t.bool().tolist() == [True, True, False]
    assert t.to(U.int32).dtype == U.int32
    assert U.tensor([1, 2]).float().dtype == U.float32


def test_creation_functions():
    assert U.ones(2, 2).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert U.full((2,), 7).tolist() == [7, 7]
    assert U.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert U.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    np.testing.assert_allclose(U.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert U.zeros_like(U.ones(3, dtype=U.int64)).dtype == U.int64
    with pytest.raises(ValueError, match="negative dimension"):
        U.zeros(-1)


@pytest.mark.skipif(U.cuda.is_available(), reason="a GPU is available here: cuda works")
def test_unavailable_device_is_an_error():
    with pytest.raises(RuntimeError, match="not available"):
        U.zeros(2, device="cuda")


def test_repr_shows_values_and_grad_fn():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2.0)
    assert "dtype=int64" in repr(U.tensor([1]))


def test_set_num_threads_changes_threads_not_results():
    big = U.tensor(np.random.default_rng(0).standard_normal(300_000).astype(np.float32))
    before = U.get_num_threads()
    try:
        U.set_num_threads(1)
        assert U.get_num_threads() == 1
        one = (big * 3.0 + 1.0).numpy().copy()
        U.set_num_threads(2)
        two = (big * 3.0 + 1.0).numpy()
        np.testing.assert_array_equal(one, two)
    finally:
        U.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be >= 1"):
        U.set_num_threads(0)
