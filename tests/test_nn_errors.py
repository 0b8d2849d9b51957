"""nn ops on bad input: errors name the op, the shapes or values and this file's line; kernels
called directly with bad indices give IndexError, never a crash. Also batch_norm's running
statistics (updated in place, outside autograd)."""

import re

import numpy as np
import pytest

import unified as U
import unified.functional as F
from unified.ops import nn as nn_ops


def here(pattern: str) -> str:
    """The message must contain `pattern` and point at this test file."""
    return f"(?s){pattern}.*test_nn_errors.py:\\d+"


def test_softmax_dim_out_of_range_names_dim_and_line():
    with pytest.raises(U.ShapeError, match=here("softmax: dim 2 is out of range for a tensor "
                                                "with 2 dimensions")):
        F.softmax(U.ones(3, 4), dim=2)
    with pytest.raises(ValueError, match="pass dim explicitly"):
        F.softmax(U.ones(3))


def test_softmax_is_stable_for_huge_inputs():
    y = F.softmax(U.tensor([[1e4, 1e4 + 1.0, -1e4]]), dim=1).numpy()
    np.testing.assert_allclose(y, [[1 / (1 + np.e), np.e / (1 + np.e), 0.0]], rtol=1e-6)
    assert np.isfinite(F.log_softmax(U.tensor([1e30, -1e30]), dim=0).numpy()).all()


def test_batch_norm_channel_mismatch():
    x, stats = U.ones(8, 4, 5, 5), U.zeros(3)
    pattern = re.escape("batch_norm: running_mean has shape (3,) but the input has 4 channels "
                        "(input (8, 4, 5, 5))")
    with pytest.raises(U.ShapeError, match=here(pattern)):
        F.batch_norm(x, stats, U.ones(3))
    with pytest.raises(U.ShapeError, match=here(re.escape("weight has shape (5,)"))):
        F.batch_norm(x, U.zeros(4), U.ones(4), weight=U.ones(5), training=True)


def test_batch_norm_needs_values_and_running_stats():
    with pytest.raises(U.ShapeError, match=here("more than 1 value per channel")):
        F.batch_norm(U.ones(1, 3), U.zeros(3), U.ones(3), training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        F.batch_norm(U.ones(2, 3), None, None)
    with pytest.raises(U.ShapeError, match=here(re.escape("(N, C) or (N, C, ...), got (3,)"))):
        F.batch_norm(U.ones(3), U.zeros(3), U.ones(3))


def test_batch_norm_running_stats_update_in_place_without_autograd():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((6, 2, 3)).astype(np.float32)
    x = U.tensor(data, requires_grad=True)
    mean, var = U.zeros(2), U.ones(2)
    ids = (id(mean._data), id(var._data))
    for _ in range(2):
        y = F.batch_norm(x, mean, var, training=True, momentum=0.25)
    y.sum().backward()
    assert (id(mean._data), id(var._data)) == ids and not mean.requires_grad
    batch_mean, batch_var = data.mean(axis=(0, 2)), data.var(axis=(0, 2), ddof=1)
    want_mean = 0.75 * (0.25 * batch_mean) + 0.25 * batch_mean
    want_var = 0.75 * (0.75 + 0.25 * batch_var) + 0.25 * batch_var
    np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.numpy(), want_var, rtol=1e-5)
    eval_out = F.batch_norm(x.detach(), mean, var).numpy()
    want = (data - want_mean[None, :, None]) / np.sqrt(want_var[None, :, None] + 1e-5)
    np.testing.assert_allclose(eval_out, want, rtol=1e-4, atol=1e-5)


def test_layer_norm_shape_mismatch():
    pattern = re.escape("layer_norm: normalized_shape (5,) expects input of shape (*, 5), got "
                        "(2, 3, 4)")
    with pytest.raises(U.ShapeError, match=here(pattern)):
        F.layer_norm(U.ones(2, 3, 4), (5,))
    with pytest.raises(U.ShapeError, match=here(re.escape("bias has shape (3,), expected"))):
        F.layer_norm(U.ones(2, 4), (4,), U.ones(4), U.zeros(3))


def test_topk_k_out_of_range():
    with pytest.raises(U.ShapeError, match=here(re.escape("topk: k=5 is out of range for dim 1 "
                                                          "of size 4 (input (3, 4))"))):
        U.topk(U.ones(3, 4), 5)
    with pytest.raises(U.ShapeError, match=here("dim 2 is out of range")):
        U.topk(U.ones(3, 4), 1, dim=2)
    with pytest.raises(TypeError, match="k must be an int"):
        U.topk(U.ones(3), 1.5)


def test_topk_backward_rejects_out_of_range_indices():
    g, idx = U.ones(2, 2), U.tensor([[0, 7], [1, 0]])
    with pytest.raises(IndexError, match=r"topk_backward: index 7 is out of range for dim 1 of "
                                         r"size 3"):
        F.call_op(nn_ops.topk_backward, g, idx, dim=1, dim_size=3)


def test_one_hot_errors():
    with pytest.raises(IndexError, match=here("one_hot: class value 4 .* out of range for "
                                              "num_classes=3")):
        F.one_hot(U.tensor([0, 4, 1]), 3)
    with pytest.raises(IndexError, match="class value -1"):
        F.one_hot(U.tensor([2, -1]))
    with pytest.raises(U.DTypeError, match=here("one_hot: input must be int64 or int32, got "
                                                "float32")):
        F.one_hot(U.ones(3), 3)
    with pytest.raises(ValueError, match="empty tensor"):
        F.one_hot(U.zeros(0, dtype=U.int64))


def test_norm_kernels_reject_non_contiguous_views_instead_of_misreading():
    x = U.ones(4, 6)[:, ::2]
    with pytest.raises(ValueError, match="layer_norm: input 0 .* must be contiguous"):
        F.call_op(nn_ops.layer_norm, x, U.ones(3), U.zeros(3), normalized_shape=(3,), eps=1e-5)
