"""Adam and AdamW: steps against PyTorch's update formula (bias correction in float64) written
out in NumPy, over several hyper-parameter settings, and hand-computed first steps."""

import numpy as np
import pytest

import unified as U
from tests.optim.stepping import fixed_problem, run_steps


def np_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
            maximize=False, decoupled=False):
    b1, b2 = betas
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        second = v
        if amsgrad:
            v_max = np.maximum(v_max, v)
            second = v_max
        denom = np.sqrt(second) / np.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
    return p


SETTINGS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.99)},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True, "betas": (0.5, 0.9)},
    {"lr": 0.02, "maximize": True, "eps": 1e-3},
    {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05, "maximize": True},
]


def _ids(hyper):
    return "-".join(f"{k}={v}" for k, v in hyper.items()) or "defaults"


@pytest.mark.parametrize("hyper", SETTINGS, ids=_ids)
@pytest.mark.parametrize("steps", [2, 4])
def test_adam_steps_match_formula(hyper, steps):
    p0, grads = fixed_problem(steps=steps)
    got = run_steps(U.optim.Adam, p0, grads, **hyper)
    np.testing.assert_allclose(got, np_adam(p0, grads, **hyper), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hyper", [{}, {"lr": 0.05, "weight_decay": 0.3},
                                   {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
                                   {"lr": 0.01, "maximize": True, "weight_decay": 0.0}], ids=_ids)
@pytest.mark.parametrize("steps", [2, 3])
def test_adamw_steps_match_formula(hyper, steps):
    p0, grads = fixed_problem(steps=steps)
    got = run_steps(U.optim.AdamW, p0, grads, **hyper)
    hyper = {"weight_decay": 1e-2, **hyper}  # AdamW's default decay
    np.testing.assert_allclose(got, np_adam(p0, grads, decoupled=True, **hyper), rtol=1e-5,
                               atol=1e-6)


def test_adam_first_step_moves_by_lr_times_sign():
    # m1 = (1-b1) g, v1 = (1-b2) g^2; after bias correction the step is lr * g / (|g| + eps')
    p0, grads = fixed_problem(steps=1)
    got = run_steps(U.optim.Adam, p0, grads, lr=0.1)
    np.testing.assert_allclose(got, p0 - 0.1 * np.sign(grads[0]), atol=1e-5)


def test_adam_state_layout():
    p = U.zeros(2, requires_grad=True)
    opt = U.optim.Adam([p], amsgrad=True)
    p.grad = U.ones(2)
    opt.step()
    opt.step()
    state = opt.state[p]
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert state["step"].shape == () and state["step"].item() == 2.0
    assert opt.param_groups[0]["decoupled_weight_decay"] is False


def test_adamw_defaults_match_pytorch():
    opt = U.optim.AdamW([U.zeros(1, requires_grad=True)])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (
        1e-3, (0.9, 0.999), 1e-8, 1e-2)
    assert group["decoupled_weight_decay"] is True


def test_adam_checks_its_arguments():
    p = U.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
        U.optim.Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: -0.1"):
        U.optim.Adam([p], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="Invalid epsilon value: -1"):
        U.optim.AdamW([p], eps=-1)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.001"):
        U.optim.Adam([p], lr=-0.001)
