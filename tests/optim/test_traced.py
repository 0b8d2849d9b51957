"""Optimizers inside a traced training step (unified.trace): the fused update ops read their
hyper-parameters from a tensor, so an lr scheduler stepping between traced calls, or a
hand-edited param group followed by refresh_hyper(), changes the replayed update exactly as
it changes the eager one. Eager is the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
import unified.nn.functional as F
from unified import nn
from unified.optim import lr_scheduler as S

RNG = np.random.default_rng(0)
DATA = [(U.tensor(RNG.standard_normal((8, 6)).astype(np.float32)),
         U.tensor(RNG.integers(0, 3, 8).astype(np.int64))) for _ in range(10)]


def _train(make_opt, traced: bool, edit_lr_at: int | None = None):
    U.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = make_opt(model.parameters())
    sched = S.StepLR(opt, step_size=2, gamma=0.5)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    fn = U.trace(step) if traced else step
    losses, lrs = [], []
    for i, (x, y) in enumerate(DATA):
        if i == edit_lr_at:
            opt.param_groups[0]["lr"] = 0.3
            opt.refresh_hyper()
        losses.append(fn(x, y).item())
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    return losses, lrs, [p.detach().numpy().copy() for p in model.parameters()], fn


OPTIMIZERS = {
    "sgd_momentum": lambda ps: U.optim.SGD(ps, lr=0.2, momentum=0.9),
    "sgd_nesterov_decay": lambda ps: U.optim.SGD(ps, lr=0.2, momentum=0.9, nesterov=True,
                                                 weight_decay=0.01),
    "sgd_plain": lambda ps: U.optim.SGD(ps, lr=0.2),
    "adam": lambda ps: U.optim.Adam(ps, lr=0.05),
    "adamw": lambda ps: U.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_traced_step_with_step_lr_follows_the_eager_trajectory(name):
    eager_losses, eager_lrs, eager_params, _ = _train(OPTIMIZERS[name], traced=False)
    losses, lrs, params, fn = _train(OPTIMIZERS[name], traced=True)
    assert lrs == eager_lrs and len(set(lrs)) == 5  # lr halves every 2 steps
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    entry = next(iter(fn._cache.values()))
    assert len(entry.variants) == 1  # replayed, not re-recorded with each new lr
    assert "_update" in str(fn.graph)  # one fused update op per parameter


def test_hand_edited_lr_takes_effect_after_refresh_hyper():
    make = OPTIMIZERS["sgd_momentum"]
    eager_losses, _, eager_params, _ = _train(make, traced=False, edit_lr_at=6)
    losses, _, params, _ = _train(make, traced=True, edit_lr_at=6)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_traced_sgd_graph_has_one_update_per_parameter_and_no_lr_constant():
    *_, fn = _train(OPTIMIZERS["sgd_momentum"], traced=True)
    calls = [n for n in fn.graph.nodes if n.kind == "call"]
    updates = [n for n in calls if n.op.name == "sgd_update"]
    assert len(updates) == 4  # two weights, two biases
    hyper = {n.inputs[3].node for n in updates}
    assert len(hyper) == 1 and next(iter(hyper)).kind == "param"  # one shared state tensor
