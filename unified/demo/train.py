"""The demo's training half: the embedded 8x8 digits as uint8 images (what a camera would give),
the model, one eager epoch with a tqdm bar, then the remaining epochs with the training step
traced (U.trace). Deployment (export, runtimes, comparison) is deploy.py's job.

Steps:
 1. digits_split (80/20, seed 0) at the native 8x8; pixels become uint8 0..255, and the
    pre-processing (uint8 -> float, normalise with the training set's mean and std) is the
    one function both training and the exported inference function call.
 2. Epoch 1 eagerly (per-step times after the first), epochs 2.. through U.trace(train_step)
    (per-step times from the fourth call: the first two record, the third compiles).
Limits: the last partial batch of an epoch is dropped, so the traced step keeps one shape."""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import numpy as np

QUICK_TRAIN, QUICK_TEST = 320, 96  # --quick: samples kept from each split
BATCH = 32


@dataclasses.dataclass
class Data:
    train_u8: np.ndarray  # (N, 1, 8, 8) uint8
    train_labels: np.ndarray  # (N,) int64
    test_u8: np.ndarray
    test_labels: np.ndarray
    mean: float  # of the training pixels in [0, 1], baked into the pre-processing
    std: float


@dataclasses.dataclass
class Trained:
    model: Any
    losses: list[float]  # one per step, eager then traced
    eager_steps: int
    eager_step_ms: float | None  # median; None when too few steps were timed
    traced_step_ms: float | None
    traced_step: Any  # the U.trace object (graph, memory_report, plot_memory)


def load_data(quick: bool) -> Data:
    from unified.datasets import digits_split

    x_train, x_test, y_train, y_test = digits_split(test_fraction=0.2, seed=0)
    train_u8 = np.round(x_train.numpy() * 255.0).astype(np.uint8)
    test_u8 = np.round(x_test.numpy() * 255.0).astype(np.uint8)
    train_labels, test_labels = y_train.numpy(), y_test.numpy()
    if quick:
        train_u8, train_labels = train_u8[:QUICK_TRAIN], train_labels[:QUICK_TRAIN]
        test_u8, test_labels = test_u8[:QUICK_TEST], test_labels[:QUICK_TEST]
    pixels = train_u8.astype(np.float32) / 255.0
    return Data(train_u8, train_labels, test_u8, test_labels, float(pixels.mean()),
                float(pixels.std()))


def preprocess(img_u8: Any, mean: float, std: float) -> Any:
    """uint8 pixels (N, 1, 8, 8) -> the normalised float32 the model was trained on."""
    return (img_u8.float() / 255.0 - mean) / std


def build_model(kind: str) -> Any:
    import unified.nn as nn

    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    if kind != "cnn":
        raise ValueError(f"demo: model must be 'cnn' or 'mlp', got {kind!r}")
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def train(data: Data, kind: str, epochs: int, progress: bool = True, seed: int = 0) -> Trained:
    """Steps 1-2 of the module doc; epochs >= 2 (one eager, at least one traced)."""
    import unified as U
    import unified.functional as F
    import unified.optim as optim
    from unified.data import DataLoader, TensorDataset

    if epochs < 2:
        raise ValueError(f"demo: --epochs must be >= 2 (one eager, then traced), got {epochs}")
    U.manual_seed(seed)
    model = build_model(kind)
    x = preprocess(U.tensor(data.train_u8), data.mean, data.std)
    loader = DataLoader(TensorDataset(x, U.tensor(data.train_labels)), batch_size=BATCH,
                        shuffle=True, drop_last=True, generator=U.Generator().manual_seed(seed))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    def train_step(xb, yb):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    traced = U.trace(train_step)
    losses: list[float] = []
    eager_ms: list[float] = []
    traced_ms: list[float] = []
    model.train()
    for epoch in range(epochs):
        step = train_step if epoch == 0 else traced
        times = eager_ms if epoch == 0 else traced_ms
        mode = "eager" if epoch == 0 else "traced"
        bar = _bar(loader, f"epoch {epoch + 1}/{epochs} ({mode})", progress)
        for xb, yb in bar:
            start = time.perf_counter()
            loss = step(xb, yb).item()
            times.append((time.perf_counter() - start) * 1e3)
            losses.append(loss)
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        sched.step()
        if epoch == 0:
            eager_steps = len(losses)
    return Trained(model, losses, eager_steps, _median(eager_ms[1:]), _median(traced_ms[3:]),
                   traced)


def _bar(loader: Any, desc: str, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(loader, desc=desc, disable=not progress, leave=False)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
