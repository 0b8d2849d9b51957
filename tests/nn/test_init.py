"""nn.init: bounds and statistics over many samples for each initializer, calculate_gain's
table, reproducibility under U.manual_seed, and in-place filling of parameters."""

import math

import numpy as np
import pytest

import unified as U
from unified.nn import init


def stats(t):
    values = t.detach().numpy()
    return values.mean(), values.std(), values.min(), values.max()


def test_uniform_and_normal_statistics():
    U.manual_seed(0)
    mean, std, low, high = stats(init.uniform_(U.empty(100000), -2.0, 4.0))
    assert low >= -2.0 and high <= 4.0 and abs(mean - 1.0) < 0.03
    assert abs(std - 6 / math.sqrt(12)) < 0.02
    mean, std, _, _ = stats(init.normal_(U.empty(100000), 3.0, 0.5))
    assert abs(mean - 3.0) < 0.01 and abs(std - 0.5) < 0.01


def test_constant_zeros_ones():
    t = U.empty(2, 3)
    assert init.constant_(t, 1.5).tolist() == [[1.5] * 3] * 2
    assert init.zeros_(t).tolist() == [[0.0] * 3] * 2 and init.ones_(t).tolist()[0] == [1.0] * 3


@pytest.mark.parametrize("fn, kwargs, expected_std", [
    (init.xavier_uniform_, {}, math.sqrt(2 / (200 + 300))),
    (init.xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / (200 + 300))),
    (init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(2 / 300)),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 200)),
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, math.sqrt(2 / 6) / math.sqrt(300)),
])
def test_fan_based_initializers_have_the_expected_std(fn, kwargs, expected_std):
    U.manual_seed(1)
    weight = U.empty(200, 300)  # fan_in 300, fan_out 200
    mean, std, _, _ = stats(fn(weight, **kwargs))
    assert abs(std - expected_std) < 0.02 * expected_std and abs(mean) < 0.02 * expected_std


def test_fan_uses_the_receptive_field_of_conv_weights():
    assert init._calculate_fan_in_and_fan_out(U.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(U.empty(5))


def test_trunc_normal_stays_in_bounds_with_truncated_std():
    U.manual_seed(2)
    mean, std, low, high = stats(init.trunc_normal_(U.empty(100000), std=1.0, a=-2.0, b=2.0))
    assert low >= -2.0 and high <= 2.0 and abs(mean) < 0.02
    assert abs(std - 0.8796) < 0.01  # the std of N(0, 1) truncated to [-2, 2]


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("tanh") == 5 / 3 and init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_init_is_reproducible_and_works_on_parameters():
    layer = U.nn.Linear(4, 4)
    U.manual_seed(7)
    first = init.xavier_uniform_(layer.weight).detach().numpy().copy()
    U.manual_seed(7)
    second = init.xavier_uniform_(layer.weight).detach().numpy()
    np.testing.assert_array_equal(first, second)
    assert layer.weight.requires_grad and layer.weight.is_leaf
