"""nn.Linear and nn.Identity: forward against NumPy, parameter gradients by finite
differences, PyTorch's default init bounds, and the wrong-feature-count error."""

import inspect
import math

import numpy as np
import pytest

import unified as U
from tests.nn.numeric import numeric_grad, params64, weighted_backward


def test_linear_forward_and_grads_match_numpy(rng):
    layer = U.nn.Linear(4, 3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w_out = rng.standard_normal((5, 3))
    p = params64(layer)
    out = layer(U.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), x @ p["weight"].T + p["bias"], rtol=1e-5,
                               atol=1e-6)
    weighted_backward(out, w_out)
    g_w = numeric_grad(lambda w: np.sum((x @ w.T + p["bias"]) * w_out), p["weight"])
    g_b = numeric_grad(lambda b: np.sum((x @ p["weight"].T + b) * w_out), p["bias"])
    np.testing.assert_allclose(layer.weight.grad.numpy(), g_w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g_b, rtol=1e-4, atol=1e-4)


def test_linear_applies_over_leading_dims_and_without_bias(rng):
    layer = U.nn.Linear(3, 2, bias=False)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_allclose(layer(U.tensor(x)).detach().numpy(),
                               x @ layer.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)


def test_linear_default_init_bounds_follow_pytorch():
    U.manual_seed(0)
    layer = U.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives the same bound
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(b).max() <= bound and abs(w.mean()) < 0.01 * bound


def test_linear_wrong_feature_count_names_module_shapes_and_line():
    layer = U.nn.Linear(128, 10)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(U.ShapeError) as info:
        layer(U.ones(32, 64))
    message = info.value.args[0]
    assert message.startswith("Linear(in_features=128, out_features=10, bias=True): input has "
                              "64 features, expected 128 (input shape (32, 64))")
    assert message.endswith(f"test_linear.py:{line}")


def test_linear_error_inside_user_forward_names_the_forward_line():
    class Net(U.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = U.nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)  # the line the error should name

    line = inspect.getsourcelines(Net.forward)[1] + 1
    with pytest.raises(U.ShapeError) as info:
        Net()(U.ones(2, 3))
    assert info.value.args[0].endswith(f"test_linear.py:{line}")


def test_identity_returns_its_input():
    x = U.ones(2, 3)
    assert U.nn.Identity(54, unused="x")(x) is x
