"""unified.debug.check_grad: correct gradients pass, a corrupted gradient fails with a message
naming the input, element and both values; argument errors are clear."""

from __future__ import annotations

import re

import numpy as np
import pytest

import unified as U
from unified.debug import GradcheckError, check_grad


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [U.tensor(rng.uniform(0.5, 1.5, s).astype(np.float32), requires_grad=True)
            for s in shapes]


def test_a_composition_of_primitives_passes():
    a, b = _inputs((3, 4), (4, 2))
    assert check_grad(lambda x, w: (x @ w).tanh() * x.sum(), a, b) is True


def test_several_outputs_and_an_input_without_grad():
    (x,) = _inputs((2, 3))
    scale = U.tensor([1.0, 2.0, 3.0])  # not checked: it does not require grad
    assert check_grad(lambda t, s: (t * s, (t * t).softmax(1)), x, scale)


def _doubled_gradient(t):
    y = t * 1.0
    if y.requires_grad:  # the numerical pass runs under no_grad
        y.register_hook(lambda g: g * 2.0)
    return (y * y).sum()


def test_a_wrong_gradient_is_reported_with_the_worst_element():
    (x,) = _inputs((2, 2))
    with pytest.raises(GradcheckError) as info:
        check_grad(_doubled_gradient, x)
    message = str(info.value)
    assert "gradient of input 0 (shape (2, 2)) differs from finite differences" in message
    assert "4 of 4 elements off" in message
    found = re.search(r"at index \((\d), (\d)\): autograd (\S+), numerical (\S+) ", message)
    autograd, numerical = float(found[3]), float(found[4])
    assert autograd == pytest.approx(2 * numerical, rel=1e-2)  # the hook doubled it
    assert check_grad(_doubled_gradient, x, raise_exception=False) is False


def test_numerical_gradient_agrees_with_a_hand_derivative():
    x = U.tensor([0.3, -0.7, 1.2], requires_grad=True)
    # d/dx sum(sin(x) * w): autograd against finite differences; both must equal cos(x) * w
    assert check_grad(lambda t: t.sin(), x, atol=1e-3, rtol=1e-3)


def test_no_input_requiring_grad_is_a_clear_error():
    with pytest.raises(ValueError, match="no input requires grad"):
        check_grad(lambda t: t * 2.0, U.ones(3))


def test_check_grad_inside_a_traced_function_raises():
    @U.trace
    def step(t):
        check_grad(lambda v: v * 2.0, U.ones(2, requires_grad=True))
        return t * 2.0

    with pytest.raises(U.TraceError, match="check_grad.. runs fn eagerly"):
        step(U.ones(2))
