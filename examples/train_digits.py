"""Train a small CNN (or the W1 MLP) on the digits that scikit-learn ships, eagerly, the way a
PyTorch user would: progress bar with loss and throughput, test accuracy, then save the
weights, reload them into a fresh model and check it predicts the same.

    python examples/train_digits.py [--model cnn|mlp] [--epochs N] [--out ckpt.ufc]
    python -m unified.distributed.launch -n 2 examples/train_digits.py --distributed

--distributed trains data-parallel (unified.distributed): each rank takes its share of every
epoch (DistributedSampler, batch 32 per rank), DataParallel averages the gradients (BatchNorm
layers become SyncBatchNorm), and only rank 0 prints and saves.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from tqdm import tqdm

import unified as U
import unified.distributed as dist
import unified.nn as nn
import unified.optim as optim
from unified.data import DataLoader, TensorDataset
from unified.datasets import digits_split


def build_model(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def train(kind: str = "cnn", epochs: int = 12, seed: int = 0, progress: bool = True,
          distributed: bool = False):
    """Train on the fixed 80/20 split; returns (model, test accuracy, test images). With
    distributed=True (after dist.init()) the returned model is the trained network itself,
    not its DataParallel wrapper."""
    U.manual_seed(seed)
    x_train, x_test, y_train, y_test = digits_split(test_fraction=0.2, seed=seed)
    net = build_model(kind)
    model = net
    train_set = TensorDataset(x_train, y_train)
    if distributed:
        model = dist.DataParallel(dist.SyncBatchNorm.convert_sync_batchnorm(net))
        sampler = dist.DistributedSampler(train_set, seed=seed)
        loader = DataLoader(train_set, batch_size=32, sampler=sampler)
    else:
        loader = DataLoader(train_set, batch_size=32, shuffle=True,
                            generator=U.Generator().manual_seed(seed))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        model.train()
        if distributed:
            sampler.set_epoch(epoch)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress or dist.get_rank() != 0, leave=False)
        start, seen = time.perf_counter(), 0
        for x, y in bar:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            img_per_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
        sched.step()
    return net, accuracy(net, x_test, y_test), x_test


def predict(model: nn.Module, x: U.Tensor) -> U.Tensor:
    model.eval()
    with U.no_grad():
        return model(x).argmax(dim=1)


def accuracy(model: nn.Module, x: U.Tensor, y: U.Tensor) -> float:
    return (predict(model, x) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "digits.ufc"))
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of an MPI launch (see above)")
    args = parser.parse_args()
    if args.distributed:
        dist.init()
    model, acc, x_test = train(args.model, args.epochs, distributed=args.distributed)
    dist.print(f"test accuracy: {acc:.4f}")
    dist.save_on_rank0(model.state_dict(), args.out)
    reloaded = build_model(args.model)
    reloaded.load_state_dict(U.load(args.out))
    same = bool((predict(reloaded, x_test) == predict(model, x_test)).all())
    dist.print(f"checkpoint {args.out}: reloaded model predicts the same: {same}")
    if not same:
        raise SystemExit("reloaded model disagrees with the trained one")


if __name__ == "__main__":
    main()
