"""trace against eager (the oracle): an MLP training step with SGD momentum, CNN inference with
BatchNorm in eval mode, and a training step with BatchNorm running stats and dropout masks,
each over many steps from the same seed and data."""

from __future__ import annotations

import numpy as np

import unified as U
import unified.nn.functional as F
from unified import nn

RNG = np.random.default_rng(0)


def batches(n: int, shape: tuple, classes: int) -> list:
    return [(U.tensor(RNG.standard_normal(shape).astype(np.float32)),
             U.tensor(RNG.integers(0, classes, shape[0]).astype(np.int64))) for _ in range(n)]


def run_training(make_model, data, traced: bool, momentum: float = 0.9):
    U.manual_seed(0)
    model = make_model()
    opt = U.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step_fn = U.trace(step) if traced else step
    losses = [step_fn(x, y).item() for x, y in data]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], model, step_fn


def mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))


def test_traced_mlp_sgd_momentum_matches_eager_over_20_steps():
    data = batches(20, (16, 20), 5)
    eager_losses, eager_params, _, _ = run_training(mlp, data, traced=False)
    losses, params, model, step = run_training(mlp, data, traced=True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    entry = next(iter(step._cache.values()))
    assert len(entry.variants) == 1  # the graph was promoted and replayed
    assert all(p.grad is not None for p in model.parameters())  # .grad set by the replay
    assert "matmul" in str(step.graph) or "linear" in str(step.graph)


def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_traced_cnn_inference_with_batchnorm_eval_matches_eager():
    U.manual_seed(1)
    model = cnn()
    model.eval()
    traced = U.trace(model)
    for _ in range(5):
        x = U.tensor(RNG.standard_normal((2, 3, 6, 6)).astype(np.float32))
        with U.no_grad():
            want = model(x).numpy().copy()
            got = traced(x).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert len(next(iter(traced._cache.values())).variants) == 1


def bn_dropout():
    return nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 4))


def test_traced_training_with_batchnorm_and_dropout_matches_eager():
    data = batches(8, (12, 10), 4)
    eager_losses, eager_params, eager_model, _ = run_training(bn_dropout, data, False, 0.5)
    losses, params, model, step = run_training(bn_dropout, data, True, 0.5)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(model[1], name).numpy(),
                                   getattr(eager_model[1], name).numpy(), rtol=1e-6)
    assert len(next(iter(step._cache.values())).variants) == 1
    assert "bernoulli" in str(step.graph)


def digits_cnn_run(traced: bool, steps: int = 100) -> tuple[list[float], float]:
    """examples/train_digits.py's CNN, optimizer and data order (seed 0), `steps` steps of
    batch 32 (drop_last: one batch shape), eager or traced; (losses, test accuracy)."""
    from unified.data import DataLoader, TensorDataset
    from unified.datasets import digits_split

    U.manual_seed(0)
    x_train, x_test, y_train, y_test = digits_split(test_fraction=0.2, seed=0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    opt = U.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True,
                        drop_last=True, generator=U.Generator().manual_seed(0))

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step_fn = U.trace(step) if traced else step
    losses: list[float] = []
    while len(losses) < steps:
        for x, y in loader:
            losses.append(step_fn(x, y).item())
            if len(losses) == steps:
                break
    model.eval()
    with U.no_grad():
        acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    if traced:
        (entry,) = step_fn._cache.values()
        assert len(entry.variants) == 1 and type(entry.variants[0].compiled).__name__ == \
            "PlanReplay"  # replayed through the lowered C++ plan
    return losses, acc


def test_digits_cnn_100_steps_traced_matches_eager():
    eager_losses, eager_acc = digits_cnn_run(traced=False)
    losses, acc = digits_cnn_run(traced=True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    assert acc == eager_acc and acc > 0.8


def test_traced_transformer_encoder_layer_step_matches_eager_over_5_steps():
    """forward + backward + SGD of a batch_first TransformerEncoderLayer (dropout 0)."""
    rng = np.random.default_rng(4)
    data = [(U.tensor(rng.standard_normal((3, 5, 16)).astype(np.float32)),
             U.tensor(rng.standard_normal((3, 5, 16)).astype(np.float32))) for _ in range(5)]

    def run(traced: bool):
        U.manual_seed(0)
        layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32,
                                           dropout=0.0, batch_first=True)
        opt = U.optim.SGD(layer.parameters(), lr=0.05)

        def step(x, target):
            loss = F.mse_loss(layer(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        fn = U.trace(step) if traced else step
        losses = [fn(x, t).item() for x, t in data]
        return losses, [p.detach().numpy().copy() for p in layer.parameters()], fn

    eager_losses, eager_params, _ = run(False)
    losses, params, step = run(True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    (entry,) = step._cache.values()
    assert len(entry.variants) == 1 and type(entry.variants[0].compiled).__name__ == \
        "PlanReplay"  # steps 3-5 replayed through the lowered plan
    assert "layer_norm" in str(step.graph)
