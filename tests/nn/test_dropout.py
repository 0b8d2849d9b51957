"""Dropout modules: identity in eval mode; in training, zeros with rate about p and survivors
scaled by 1/(1-p); Dropout2d drops whole channels; gradients follow the same mask."""

import numpy as np
import pytest

import unified as U
from unified import nn


def test_dropout_eval_is_identity_and_train_masks_and_scales():
    U.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = U.ones(200, 100, requires_grad=True)
    out = drop(x)
    values = out.detach().numpy()
    assert set(np.unique(values).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert abs((values == 0).mean() - 0.25) < 0.02
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), values)  # d(out)/dx is the scaled mask
    drop.eval()
    np.testing.assert_array_equal(drop(x).detach().numpy(), x.detach().numpy())


def test_dropout2d_zeroes_whole_channels():
    U.manual_seed(3)
    out = nn.Dropout2d(0.5)(U.ones(8, 16, 3, 3)).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel[..., 0] == 0).sum() < 8 * 16


def test_dropout_rejects_bad_probability_and_reprs():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
