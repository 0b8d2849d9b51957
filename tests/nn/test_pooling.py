"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d modules against NumPy window reductions."""

import numpy as np

import unified as U
from unified import nn


def test_maxpool_and_avgpool_match_numpy(rng):
    x = rng.standard_normal((2, 3, 4, 6)).astype(np.float32)
    windows = x.reshape(2, 3, 2, 2, 3, 2)
    np.testing.assert_allclose(nn.MaxPool2d(2)(U.tensor(x)).numpy(), windows.max((3, 5)))
    np.testing.assert_allclose(nn.AvgPool2d(2)(U.tensor(x)).numpy(), windows.mean((3, 5)),
                               rtol=1e-6)


def test_maxpool_with_stride_and_padding(rng):
    x = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    expected = np.array([[padded[0, 0, i:i + 3, j:j + 3].max() for j in (0, 2, 4)]
                         for i in (0, 2, 4)])
    out = nn.MaxPool2d(3, stride=2, padding=1)(U.tensor(x))
    np.testing.assert_allclose(out.numpy()[0, 0], expected)


def test_adaptive_avg_pool_to_one_and_to_uneven_sizes(rng):
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(U.tensor(x)).numpy(),
                               x.mean((2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    out = nn.AdaptiveAvgPool2d((2, 3))(U.tensor(x)).numpy()
    # PyTorch's bins: start = floor(i * in / out), end = ceil((i + 1) * in / out)
    rows = [(0, 3), (2, 5)]
    cols = [(0, 3), (2, 5), (4, 7)]
    expected = np.array([[x[:, :, r0:r1, c0:c1].mean((2, 3)) for c0, c1 in cols]
                         for r0, r1 in rows]).transpose(2, 3, 0, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
