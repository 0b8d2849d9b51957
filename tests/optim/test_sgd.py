"""SGD: two and three steps against PyTorch's update formula written out in NumPy, over several
hyper-parameter settings, plus hand-computed scalar steps and argument checks."""

import numpy as np
import pytest

import unified as U
from tests.optim.stepping import fixed_problem, run_steps


def np_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
           maximize=False):
    buf = None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3},
    {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.1, "weight_decay": 0.5, "maximize": True},
    {"lr": 0.1, "momentum": 0.5, "maximize": True, "dampening": 0.5, "weight_decay": 0.01},
]


@pytest.mark.parametrize("hyper", SETTINGS,
                         ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
@pytest.mark.parametrize("steps", [2, 3])
def test_sgd_steps_match_formula(hyper, steps):
    p0, grads = fixed_problem(steps=steps)
    got = run_steps(U.optim.SGD, p0, grads, **hyper)
    np.testing.assert_allclose(got, np_sgd(p0, grads, **hyper), rtol=1e-5, atol=1e-6)


def test_sgd_momentum_hand_computed():
    # p=1, g=2 twice, lr=0.1, momentum=0.9: buf1=2, p=0.8; buf2=0.9*2+2=3.8, p=0.8-0.38=0.42
    p = U.tensor([1.0], requires_grad=True)
    opt = U.optim.SGD([p], lr=0.1, momentum=0.9)
    values = []
    for _ in range(2):
        p.grad = U.tensor([2.0])
        opt.step()
        values.append(p.item())
    np.testing.assert_allclose(values, [0.8, 0.42], rtol=1e-6)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].tolist(), [3.8], rtol=1e-6)


def test_sgd_without_momentum_keeps_no_state():
    p = U.tensor([1.0], requires_grad=True)
    opt = U.optim.SGD([p], lr=0.1)
    p.grad = U.tensor([1.0])
    opt.step()
    assert opt.state_dict()["state"] == {}


def test_sgd_trains_a_linear_regression():
    U.manual_seed(0)
    rng = np.random.default_rng(0)
    x = U.tensor(rng.normal(size=(64, 3)))
    y = x @ U.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    w = U.zeros(3, 1, requires_grad=True)
    b = U.zeros(1, requires_grad=True)
    opt = U.optim.SGD([w, b], lr=0.1, momentum=0.9)
    for _ in range(150):
        opt.zero_grad()
        loss = U.functional.mse_loss(x @ w + b, y)
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy().ravel(), [1.0, -2.0, 0.5], atol=1e-3)
    np.testing.assert_allclose(b.item(), 0.3, atol=1e-3)


def test_sgd_checks_its_arguments():
    p = U.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        U.optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="Invalid momentum value: -1"):
        U.optim.SGD([p], momentum=-1)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -0.5"):
        U.optim.SGD([p], weight_decay=-0.5)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                         "dampening") as info:
        U.optim.SGD([p], nesterov=True)
    assert "test_sgd.py" in str(info.value)
