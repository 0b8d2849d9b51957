"""Flatten and Unflatten modules."""

import unified as U
from unified import nn


def test_flatten_keeps_batch_dim_by_default_and_unflatten_inverts():
    x = U.arange(24).reshape(2, 3, 4)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 12) and flat.tolist()[1][:3] == [12, 13, 14]
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Unflatten(1, (3, 4))(flat).tolist() == x.tolist()
