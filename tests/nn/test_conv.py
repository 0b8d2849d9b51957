"""nn.Conv2d and nn.ConvTranspose2d: forward against a direct NumPy convolution (stride,
padding incl. 'same', dilation, groups, padding_mode), weight gradients by finite differences,
default init bounds, and the wrong-channel error."""

import inspect
import math

import numpy as np
import pytest

import unified as U
from tests.nn.numeric import numeric_grad, params64, weighted_backward


def conv2d_ref(x, w, b, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Direct convolution; pad is (top, left, bottom, right) zeros."""
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[2]), (pad[1], pad[3])))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(oh):
            for j in range(ow):
                rows = i * stride[0] + dilation[0] * np.arange(kh)
                cols = j * stride[1] + dilation[1] * np.arange(kw)
                patch = x[:, g * cg:(g + 1) * cg][:, :, rows][:, :, :, cols]
                out[:, oc, i, j] = np.sum(patch * w[oc], axis=(1, 2, 3))
    return out + (0 if b is None else b.reshape(1, -1, 1, 1))


@pytest.mark.parametrize("kwargs, pad", [
    (dict(), (0, 0, 0, 0)),
    (dict(stride=2, padding=1), (1, 1, 1, 1)),
    (dict(padding="same", dilation=2), (2, 2, 2, 2)),
    (dict(kernel_size=(2, 3), padding="same"), (0, 1, 1, 1)),
    (dict(groups=2, padding=(1, 0), bias=False), (1, 0, 1, 0)),
])
def test_conv2d_forward_and_grads_match_numpy(rng, kwargs, pad):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    conv = U.nn.Conv2d(2, 4, kernel, **kwargs)
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    p = params64(conv)
    args = (conv.stride, pad, conv.dilation, conv.groups)
    expected = conv2d_ref(x, p["weight"], p.get("bias"), *args)
    out = conv(U.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    w_out = rng.standard_normal(expected.shape)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w: np.sum(conv2d_ref(x, w, p.get("bias"), *args) * w_out),
                       p["weight"])
    np.testing.assert_allclose(conv.weight.grad.numpy(), g_w, rtol=1e-4, atol=1e-4)
    if conv.bias is not None:
        np.testing.assert_allclose(conv.bias.grad.numpy(), w_out.sum(axis=(0, 2, 3)),
                                   rtol=1e-4, atol=1e-4)


def test_conv2d_reflect_padding_mode_pads_by_reflection(rng):
    conv = U.nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    p = params64(conv)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    np.testing.assert_allclose(conv(U.tensor(x)).detach().numpy(),
                               conv2d_ref(padded, p["weight"], p["bias"]), rtol=1e-4, atol=1e-5)


def test_conv2d_default_init_bounds_and_unbatched_input():
    U.manual_seed(1)
    conv = U.nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    w = conv.weight.detach().numpy()
    assert w.shape == (32, 16, 3, 3) and np.abs(w).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    assert conv(U.ones(16, 5, 5)).shape == (32, 3, 3)


def test_conv2d_wrong_channels_and_bad_arguments():
    conv = U.nn.Conv2d(3, 8, 3)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(U.ShapeError) as info:
        conv(U.ones(2, 4, 8, 8))
    assert info.value.args[0] == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): input has 4 channels, expected 3 "
        f"(input shape (2, 4, 8, 8)) at test_conv.py:{line}")
    with pytest.raises(ValueError, match="divisible by groups"):
        U.nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        U.nn.Conv2d(3, 8, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        U.nn.Conv2d(3, 8, 3, padding_mode="mirror")


def conv_transpose2d_ref(x, w, b, stride, padding, output_padding):
    n, _, h, wd = x.shape
    _, cout, kh, kw = w.shape
    full_h, full_w = (h - 1) * stride + kh, (wd - 1) * stride + kw
    out = np.zeros((n, cout, full_h + output_padding, full_w + output_padding))
    for i in range(h):
        for j in range(wd):
            out[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w)
    oh = full_h - 2 * padding + output_padding
    ow = full_w - 2 * padding + output_padding
    return out[:, :, padding:padding + oh, padding:padding + ow] + b.reshape(1, -1, 1, 1)


def test_conv_transpose2d_forward_and_grads_match_numpy(rng):
    up = U.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    assert up.weight.shape == (3, 2, 3, 3)
    x = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    p = params64(up)
    expected = conv_transpose2d_ref(x, p["weight"], p["bias"], 2, 1, 1)
    out = up(U.tensor(x))
    assert out.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    w_out = rng.standard_normal(expected.shape)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w: np.sum(conv_transpose2d_ref(x, w, p["bias"], 2, 1, 1) * w_out),
                       p["weight"])
    np.testing.assert_allclose(up.weight.grad.numpy(), g_w, rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_output_size_picks_output_padding():
    up = U.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    x = U.ones(1, 1, 4, 4)
    assert up(x).shape == (1, 1, 7, 7)
    assert up(x, output_size=(8, 8)).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="output_size"):
        up(x, output_size=(10, 10))
