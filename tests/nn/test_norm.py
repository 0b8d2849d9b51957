"""BatchNorm1d/2d (batch vs running statistics, momentum, num_batches_tracked, affine and
track_running_stats off), LayerNorm and GroupNorm: forward against NumPy, gradients by finite
differences, and the wrong-channel errors."""

import inspect

import numpy as np
import pytest

import unified as U
from tests.nn.numeric import numeric_grad, weighted_backward


def batch_norm_ref(x, weight, bias, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


def test_batchnorm2d_training_uses_batch_stats_and_updates_running_stats(rng):
    bn = U.nn.BatchNorm2d(3)
    with U.no_grad():
        bn.weight.copy_(U.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(U.tensor([0.0, -1.0, 3.0]))
    x = rng.standard_normal((4, 3, 2, 3)).astype(np.float32) * 2 + 1
    out = bn(U.tensor(x))
    w, b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    np.testing.assert_allclose(out.detach().numpy(), batch_norm_ref(x, w, b), rtol=1e-4,
                               atol=1e-4)
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    w_out = rng.standard_normal(x.shape)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w_: np.sum(batch_norm_ref(x, w_, b) * w_out), w)
    g_x = numeric_grad(lambda x_: np.sum(batch_norm_ref(x_, w, b) * w_out), x)
    np.testing.assert_allclose(bn.weight.grad.numpy(), g_w, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(bn.bias.grad.numpy(), w_out.sum((0, 2, 3)), rtol=1e-4, atol=1e-4)
    xt = U.tensor(x, requires_grad=True)
    weighted_backward(bn(xt), w_out)
    np.testing.assert_allclose(xt.grad.numpy(), g_x, rtol=1e-3, atol=1e-3)


def test_batchnorm_eval_uses_running_stats(rng):
    bn = U.nn.BatchNorm1d(2)
    with U.no_grad():
        bn.running_mean.copy_(U.tensor([1.0, -1.0]))
        bn.running_var.copy_(U.tensor([4.0, 0.25]))
    bn.eval()
    x = rng.standard_normal((5, 2)).astype(np.float32)
    expected = (x - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(bn(U.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert bn.running_mean.tolist() == [1.0, -1.0] and bn.num_batches_tracked.item() == 0


def test_batchnorm_momentum_none_is_a_cumulative_average(rng):
    bn = U.nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((4, 2, 3)).astype(np.float32) for _ in range(3)]
    for x in batches:
        bn(U.tensor(x))
    expected = np.mean([x.mean((0, 2)) for x in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 3


def test_batchnorm_without_affine_or_running_stats(rng):
    bn = U.nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    x = rng.standard_normal((6, 3)).astype(np.float32)
    expected = batch_norm_ref(x, np.ones(3), np.zeros(3))
    for mode in (bn.train(), bn.eval()):  # no running stats: batch statistics in both modes
        np.testing.assert_allclose(mode(U.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_errors_name_channels_and_line():
    bn = U.nn.BatchNorm2d(16)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(U.ShapeError) as info:
        bn(U.ones(2, 8, 4, 4))
    assert info.value.args[0].startswith("BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, "
                                         "track_running_stats=True): input has 8 channels, "
                                         "expected 16 (input shape (2, 8, 4, 4))")
    assert info.value.args[0].endswith(f"test_norm.py:{line}")
    with pytest.raises(U.ShapeError, match="expected 4-D input, got shape"):
        bn(U.ones(2, 16))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        U.nn.BatchNorm1d(3)(U.ones(1, 3))


def layer_norm_ref(x, w, b, k, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def test_layernorm_forward_and_grads(rng):
    ln = U.nn.LayerNorm((2, 3))
    w = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    with U.no_grad():
        ln.weight.copy_(U.tensor(w))
        ln.bias.copy_(U.tensor(b))
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    out = ln(U.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), layer_norm_ref(x, w, b, 2), rtol=1e-4,
                               atol=1e-5)
    w_out = rng.standard_normal(x.shape)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w_: np.sum(layer_norm_ref(x, w_, b, 2) * w_out), w)
    np.testing.assert_allclose(ln.weight.grad.numpy(), g_w, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ln.bias.grad.numpy(), w_out.sum(0), rtol=1e-4, atol=1e-4)


def test_layernorm_options_and_shape_error():
    assert U.nn.LayerNorm(4, bias=False).bias is None
    assert list(U.nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    with pytest.raises(U.ShapeError, match=r"trailing dims \(5,\) do not match normalized_shape "
                                           r"\(4,\)"):
        U.nn.LayerNorm(4)(U.ones(2, 5))


def group_norm_ref(x, groups, w, b, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    normed = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps))
    shape = (1, c) + (1,) * (x.ndim - 2)
    return normed.reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


def test_groupnorm_forward_and_grads(rng):
    gn = U.nn.GroupNorm(2, 4)
    w, b = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    with U.no_grad():
        gn.weight.copy_(U.tensor(w))
        gn.bias.copy_(U.tensor(b))
    x = rng.standard_normal((3, 4, 2, 2)).astype(np.float32)
    xt = U.tensor(x, requires_grad=True)
    out = gn(xt)
    np.testing.assert_allclose(out.detach().numpy(), group_norm_ref(x, 2, w, b), rtol=1e-4,
                               atol=1e-4)
    w_out = rng.standard_normal(x.shape)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w_: np.sum(group_norm_ref(x, 2, w_, b) * w_out), w)
    g_x = numeric_grad(lambda x_: np.sum(group_norm_ref(x_, 2, w, b) * w_out), x)
    np.testing.assert_allclose(gn.weight.grad.numpy(), g_w, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(xt.grad.numpy(), g_x, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        U.nn.GroupNorm(3, 4)
