"""Where PyTorch is installed: our optimizers and schedulers give PyTorch's numbers for the
same starting point, gradients and hyper-parameters (skipped when torch is missing)."""

import numpy as np
import pytest

import unified as U
from tests.optim.stepping import fixed_problem, run_steps

torch = pytest.importorskip("torch")

CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "maximize": True}),
]


def torch_steps(name, p0, grads, **hyper):
    p = torch.tensor(p0, dtype=torch.float32, requires_grad=True)
    opt = getattr(torch.optim, name)([p], **hyper)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("name,hyper", CASES)
def test_optimizer_matches_torch(name, hyper):
    p0, grads = fixed_problem(seed=3, steps=4)
    got = run_steps(getattr(U.optim, name), p0, grads, **hyper)
    np.testing.assert_allclose(got, torch_steps(name, p0, grads, **hyper), rtol=1e-5, atol=1e-6)


SCHEDULERS = [
    ("StepLR", {"step_size": 4, "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 11], "gamma": 0.5}),
    ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.001}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 7}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 25}),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "total_steps": 25, "three_phase": True,
                    "anneal_strategy": "linear"}),
]


def _schedule(lib, name, kwargs, epochs):
    params = [{"params": [lib.zeros(1, requires_grad=True)], "lr": 0.1},
              {"params": [lib.zeros(1, requires_grad=True)], "lr": 0.05}]
    opt = lib.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    rows = []
    for _ in range(epochs):
        rows.append(list(sched.get_last_lr()) + [g["momentum"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(rows)


@pytest.mark.parametrize("name,kwargs", SCHEDULERS)
def test_scheduler_matches_torch(name, kwargs):
    np.testing.assert_allclose(_schedule(U, name, kwargs, 25), _schedule(torch, name, kwargs, 25),
                               rtol=1e-12, atol=1e-15)
