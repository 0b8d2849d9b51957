"""RMSprop: steps against PyTorch's update formula written out in NumPy, over several
hyper-parameter settings (momentum, centered, weight decay, maximize), and a hand-computed
step."""

import numpy as np
import pytest

import unified as U
from tests.optim.stepping import fixed_problem, run_steps


def np_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
               centered=False, maximize=False):
    square_avg = np.zeros_like(p)
    grad_avg = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * g
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = np.sqrt(square_avg) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


SETTINGS = [
    {},
    {"lr": 0.05, "alpha": 0.9},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.01, "centered": True, "alpha": 0.8},
    {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
    {"lr": 0.02, "maximize": True, "eps": 1e-2},
]


@pytest.mark.parametrize("hyper", SETTINGS,
                         ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()) or "defaults")
@pytest.mark.parametrize("steps", [2, 3])
def test_rmsprop_steps_match_formula(hyper, steps):
    p0, grads = fixed_problem(steps=steps)
    got = run_steps(U.optim.RMSprop, p0, grads, **hyper)
    np.testing.assert_allclose(got, np_rmsprop(p0, grads, **hyper), rtol=1e-5, atol=1e-6)


def test_rmsprop_hand_computed_step():
    # v = 0.25 * 4 = 1, so p = 1 - 0.01 * 2 / (1 + 1e-8)
    p = U.tensor([1.0], requires_grad=True)
    opt = U.optim.RMSprop([p], lr=0.01, alpha=0.75)
    p.grad = U.tensor([2.0])
    opt.step()
    np.testing.assert_allclose(p.item(), 0.98, rtol=1e-6)
    assert sorted(opt.state[p]) == ["square_avg", "step"]


def test_rmsprop_checks_its_arguments():
    p = U.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid alpha value: -0.5"):
        U.optim.RMSprop([p], alpha=-0.5)
    with pytest.raises(ValueError, match="Invalid momentum value: -1"):
        U.optim.RMSprop([p], momentum=-1)
