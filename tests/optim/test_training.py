"""End to end: a small MLP learns separable blobs with CrossEntropyLoss, each optimizer and a
scheduler (losses, optimizers, schedulers and nn layers together)."""

import numpy as np
import pytest

import unified as U


def _blobs(seed=0, n=60):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.5]])
    labels = rng.integers(0, 3, size=n)
    points = centers[labels] + rng.normal(scale=0.5, size=(n, 2))
    return U.tensor(points), U.tensor(labels)


@pytest.mark.parametrize("make_opt", [
    lambda ps: U.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: U.optim.Adam(ps, lr=0.03),
    lambda ps: U.optim.AdamW(ps, lr=0.03),
    lambda ps: U.optim.RMSprop(ps, lr=0.01),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_mlp_learns_blobs(make_opt):
    U.manual_seed(0)
    x, y = _blobs()
    model = U.nn.Sequential(U.nn.Linear(2, 16), U.nn.ReLU(), U.nn.Linear(16, 3))
    opt = make_opt(model.parameters())
    sched = U.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=60)
    loss_fn = U.nn.CrossEntropyLoss(label_smoothing=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        first = loss.item() if first is None else first
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert loss.item() < 0.5 * first and accuracy > 0.95
