"""Eager training benchmark (WORKLOADS W1 and W2): median ms per training step (forward,
backward, SGD momentum update, ending with loss.item()) and, for W2, peak resident memory above
the imports-only baseline; unified and PyTorch (when installed) each in their own process, on
the digits data, ratios taken in this one run.

    python benchmarks/train_eager.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = os.cpu_count() or 1


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits images (N, 64) in [0, 1] and labels, read straight from the embedded file so
    that every peer gets the same data without importing unified."""
    with gzip.open(os.path.join(ROOT, "unified", "datasets", "data", "digits.csv.gz")) as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return table[:, :-1] / 16.0, table[:, -1].astype(np.int64)


def batches(images: np.ndarray, labels: np.ndarray, batch: int, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        idx = rng.integers(0, len(images), batch)
        yield images[idx], labels[idx]


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_workloads(fw) -> dict:
    """fw: a small adapter giving mlp(), cnn(), tensor(), step(model, opt, x, y)."""
    images, labels = digits_arrays()
    res = {}
    baseline = maxrss_bytes()
    model, opt = fw.mlp()
    data = [(fw.tensor(x), fw.tensor(y)) for x, y in batches(images, labels, 64, 8)]
    it = iter(range(10**9))
    step = lambda: fw.step(model, opt, *data[next(it) % 8])  # noqa: E731
    res["W1"] = timeit(step, repeats=50, warmup=5)[0] * 1e3
    padded = np.zeros((len(images), 1, 32, 32), np.float32)
    padded[:, 0, 12:20, 12:20] = images.reshape(-1, 8, 8)
    model, opt = fw.cnn()
    data = [(fw.tensor(x), fw.tensor(y)) for x, y in batches(padded, labels, 32, 8)]
    step = lambda: fw.step(model, opt, *data[next(it) % 8])  # noqa: E731
    res["W2"] = timeit(step, repeats=20, warmup=3)[0] * 1e3
    res["W2_mem"] = (maxrss_bytes() - baseline) / 2**20
    return res


class UnifiedAdapter:
    def __init__(self):
        import unified as U
        import unified.nn as nn
        import unified.optim as optim

        U.set_num_threads(THREADS)
        U.manual_seed(0)
        self.U, self.nn, self.optim = U, nn, optim

    def tensor(self, a):
        return self.U.tensor(a)

    def mlp(self):
        nn = self.nn
        m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
        return m, self.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    def cnn(self):
        nn = self.nn
        m = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
        return m, self.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    def step(self, model, opt, x, y):
        loss = self.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()


class TorchAdapter(UnifiedAdapter):
    def __init__(self):
        import torch

        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        self.U, self.nn, self.optim = torch, torch.nn, torch.optim

    def tensor(self, a):
        return self.U.from_numpy(np.ascontiguousarray(a))


CASES = [  # key, label, unit, target (ratio unified / torch)
    ("W1", "W1 MLP 64-256-256-10, batch 64, step", "ms", "<= 1.0"),
    ("W2", "W2 CNN 1x32x32, batch 32, step", "ms", "<= 1.2"),
    ("W2_mem", "W2 peak RSS above imports", "MiB", "(report)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", choices=["unified", "torch"])
    args = parser.parse_args()
    if args.peer:
        adapter = UnifiedAdapter() if args.peer == "unified" else TorchAdapter()
        print(json.dumps(run_workloads(adapter)))
        return
    script = os.path.abspath(__file__)
    results = {p: run_peer(script, p) for p in ("unified", "torch")}
    print(header(f"eager training, {THREADS} threads, median ms per step"))
    rows = []
    for key, label, unit, target in CASES:
        u = (results["unified"] or {}).get(key)
        t = (results["torch"] or {}).get(key)
        ratio = None if (u is None or t is None) else u / t
        rows.append([label, unit, fmt(u), fmt(t), fmt(ratio), target])
    print_table(["case", "unit", "unified", "torch", "ratio", "target"], rows)
    print("# ratio = unified / torch (lower is better)")


if __name__ == "__main__":
    main()
