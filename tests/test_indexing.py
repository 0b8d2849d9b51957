"""Indexing beyond the op table: out-of-range indices give an IndexError naming the value and
the size (never a crash), index dtypes are checked, setitem works with autograd and version
counters, embedding's padding_idx gets no gradient, and big gathers match NumPy."""

import numpy as np
import pytest

import unified as U
import unified.functional as F


@pytest.mark.parametrize("call", [
    lambda x, i: x.index_select(0, i),
    lambda x, i: x.gather(0, i.reshape(1, 2).expand(1, 2)),
    lambda x, i: x[i],
    lambda x, i: x[:, i.reshape(2) - 2],  # dim 1 has size 3: 3 - 2 = 1, 7 - 2 = 5
])
def test_out_of_range_index_names_value_and_size(call):
    x = U.zeros(4, 3)
    i = U.tensor([3, 7])
    message = r"index [57] is out of bounds for dimension \d with size [34]"
    with pytest.raises(IndexError, match=message):
        call(x, i)


def test_embedding_out_of_range_id():
    w = U.zeros(5, 2)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 5"):
        F.embedding(U.tensor([[0, 5]]), w)
    with pytest.raises(IndexError, match="negative indices are not allowed"):
        F.embedding(U.tensor([-1]), w)


def test_getitem_int_out_of_range():
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        U.zeros(2, 3)[0, 3]
    with pytest.raises(IndexError, match="too many indices"):
        U.zeros(2)[0, 0]


def test_index_dtype_is_checked():
    x = U.zeros(3)
    with pytest.raises(U.DTypeError, match="float32"):
        x[U.tensor([0.0, 1.0])]
    with pytest.raises(U.DTypeError, match="index must be int64 or int32, got float32"):
        x.index_select(0, U.tensor([0.0]))
    with pytest.raises(U.DTypeError, match="mask must be bool"):
        x.masked_fill(U.tensor([1, 0, 1]), 0.0)


def test_gather_index_shape_error_names_shapes():
    with pytest.raises(U.ShapeError, match=r"index \(2,\).*\(2, 3\).*test_indexing.py:\d+"):
        U.zeros(2, 3).gather(1, U.tensor([0, 1]))


def test_mask_shape_mismatch():
    with pytest.raises(IndexError, match="shape of the mask"):
        U.zeros(2, 3)[U.tensor([True, False, True])]


def test_setitem_on_leaf_requiring_grad_is_refused():
    x = U.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0


def test_setitem_bumps_version_and_is_detected_by_backward():
    a = U.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1.0
    c = b.sin()  # saves b
    b[0] = 0.0
    assert b._version == 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        c.sum().backward()


def test_setitem_gradient_reaches_value_and_input():
    x = U.tensor(np.ones((2, 3)), requires_grad=True)
    v = U.tensor([5.0, 6.0], requires_grad=True)
    y = x * 2.0
    y[:, U.tensor([1])] = v.reshape(2, 1)
    (y * U.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 4], [6, 0, 10]])
    np.testing.assert_array_equal(v.grad.numpy(), [1, 4])


def test_setitem_mixed_key_with_grad_is_refused():
    y = U.zeros(2, 3, requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="mixes ints, slices or None with index tensors"):
        y[0, U.tensor([1])] = 1.0


def test_setitem_shape_mismatch():
    with pytest.raises(U.ShapeError, match=r"value of shape \(3,\) cannot be broadcast.*\(2,\)"):
        U.zeros(4)[1:3] = U.zeros(3)


def test_setitem_through_a_mask_writes_in_place():
    x = U.tensor([-1.0, 2.0, -3.0])
    x[x < 0] = 0.0
    assert x.tolist() == [0.0, 2.0, 0.0]


def test_embedding_padding_idx_gets_no_gradient():
    w = U.tensor(np.ones((4, 2)), requires_grad=True)
    out = F.embedding(U.tensor([[0, 2, 0, 3]]), w, padding_idx=0)
    assert out.tolist() == [[[1.0, 1.0]] * 4]  # the padding row is still looked up
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [0, 0], [1, 1], [1, 1]])


def test_embedding_negative_padding_idx():
    w = U.tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding(U.tensor([3, 3, 1]), w, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [1, 1], [0, 0], [0, 0]])


def test_index_double_backward():
    x = U.tensor([1.0, 2.0, 3.0], requires_grad=True)
    i = U.tensor([2, 2, 0])
    (g,) = U.autograd.grad((x[i] ** 2.0).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [2.0, 0.0, 12.0])
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 4.0])


def test_large_gather_and_index_select_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 300)).astype(np.float32)
    i = rng.integers(0, 300, (400, 250))
    np.testing.assert_array_equal(U.tensor(x).gather(1, U.tensor(i)).numpy(),
                                  np.take_along_axis(x, i, 1))
    rows = rng.integers(0, 400, 1000)
    np.testing.assert_array_equal(U.tensor(x).T.index_select(1, U.tensor(rows)).numpy(),
                                  x.T[:, rows])


def test_index_select_with_zero_d_index_keeps_the_dim():
    x = U.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.index_select(0, U.tensor(1)).tolist() == [[3.0, 4.0]]
