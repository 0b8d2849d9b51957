"""Shape ops beyond the op table: views share memory and the version counter with their base,
view() refuses layouts that need a copy, split/chunk gradients with unused pieces, and the
error messages (ShapeError naming the shapes and this file's line; negative steps)."""

import numpy as np
import pytest

import unified as U
import unified.functional as F


def test_views_share_memory_with_their_base():
    x = U.zeros(3, 4)
    views = [x.view(12), x.reshape(4, 3), x.T, x[1], x[:, ::2], x.unsqueeze(0), x.permute(1, 0)]
    x.add_(1.0)
    for v in views:
        assert np.all(v.numpy() == 1.0)
        assert v._version == x._version == 1
    x[1] = 5.0
    assert views[3].tolist() == [5.0] * 4


def test_view_of_view_writes_through_to_the_base():
    x = U.zeros(4, 4)
    x[1:3][:, 2] = 7.0
    assert x.numpy()[1:3, 2].tolist() == [7.0, 7.0]
    assert x.numpy().sum() == 14.0


def test_expand_is_a_stride_zero_view():
    x = U.tensor([[1.0], [2.0]])
    y = x.expand(2, 3)
    assert y.stride() == (1, 0)
    assert y.tolist() == [[1.0] * 3, [2.0] * 3]


def test_view_refuses_a_layout_that_needs_a_copy():
    x = U.zeros(3, 4).T
    with pytest.raises(RuntimeError, match=r"use \.reshape"):
        x.view(12)
    assert x.reshape(12).shape == (12,)  # reshape copies instead


def test_reshape_copy_keeps_gradients():
    x = U.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.T.reshape(-1) * U.tensor(np.arange(6.0))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)


def test_split_gradient_with_unused_pieces():
    x = U.tensor(np.arange(10.0), requires_grad=True)
    a, _, c = x.split([3, 3, 4])
    (a.sum() + (c * 2.0).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 1, 0, 0, 0, 2, 2, 2, 2])


def test_chunk_gradient_with_one_piece_used():
    x = U.tensor(np.ones((4, 2)), requires_grad=True)
    x.chunk(2)[1].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [0, 0], [1, 1], [1, 1]])


def test_getitem_double_backward():
    x = U.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = U.autograd.grad((x[1:] ** 2.0).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [0.0, 4.0, 6.0])
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 2.0, 2.0])


def test_pad_double_backward_reflect():
    x = U.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = U.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    (g,) = U.autograd.grad((F.pad(x, (1, 1), mode="reflect") * w).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [2.0, 1.0 + 3.0 + 5.0, 4.0])


def test_cat_large_is_parallel_safe():
    a = np.random.default_rng(0).standard_normal((300, 200)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((300, 100)).astype(np.float32)
    out = U.cat([U.tensor(a).T, U.tensor(b).T], 0)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a.T, b.T]))


def test_reshape_wrong_size_names_shapes_and_line():
    x = U.zeros(2, 3)
    with pytest.raises(U.ShapeError, match=r"\(4, 2\).*\(2, 3\).*test_views.py:\d+"):
        x.reshape(4, 2)


def test_reshape_two_unknown_dims():
    with pytest.raises(U.ShapeError, match="only one dimension can be -1"):
        U.zeros(4).reshape(-1, -1)


def test_expand_error_names_dimension():
    with pytest.raises(U.ShapeError, match=r"cannot expand input \(2, 3\) to \(4, 3\)"):
        U.zeros(2, 3).expand(4, 3)


def test_permute_error_names_dims():
    with pytest.raises(U.ShapeError, match=r"dims \(0, 0\) are not a permutation"):
        U.zeros(2, 3).permute(0, 0)


def test_negative_step_is_a_clear_error():
    with pytest.raises(ValueError, match="step must be greater than zero"):
        U.zeros(4)[::-1]


def test_cat_shape_mismatch_names_shapes():
    with pytest.raises(U.ShapeError, match=r"tensor 1 has shape \(2, 4\).*\(2, 3\)"):
        U.cat([U.zeros(2, 3), U.zeros(2, 4)], 0)


def test_stack_needs_equal_shapes():
    with pytest.raises(U.ShapeError, match="stack"):
        U.stack([U.zeros(2), U.zeros(3)])


def test_pad_reflect_too_large():
    with pytest.raises(U.ShapeError, match="reflect padding"):
        F.pad(U.zeros(1, 3), (3, 0), mode="reflect")


def test_pad_bad_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(U.zeros(3), (1, 1), mode="mirror")


def test_split_sections_must_sum_to_size():
    with pytest.raises(ValueError, match="sum to 5"):
        U.zeros(5).split([2, 2])


def test_squeeze_and_flatten_dim_errors():
    with pytest.raises(U.ShapeError, match="dim 3 is out of range"):
        U.zeros(2, 3).squeeze(3)
    with pytest.raises(U.ShapeError, match="dim 2 is out of range"):
        U.zeros(2, 3).transpose(0, 2)
