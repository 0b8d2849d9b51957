"""Eager op benchmark (WORKLOADS W3 plus matmul and conv2d): per-op overhead of 10,000
`y = x + y` on 16 floats with and without grad recording, matmul GFLOP/s, conv2d ms; unified,
NumPy and PyTorch (when installed) each in their own process, ratios taken in this one run.

    python benchmarks/eager_ops.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit  # noqa: E402

N_ADDS = 10_000
THREADS = os.cpu_count() or 1


def _add_loop(x, y, n=N_ADDS):
    for _ in range(n):
        y = x + y
    return y


def measure_unified() -> dict:
    import numpy as np

    import unified as U
    import unified.functional as F

    U.set_num_threads(THREADS)
    res = {}
    x = U.tensor(np.ones(16, np.float32))
    y = U.tensor(np.ones(16, np.float32))
    res["add_nograd"] = timeit(lambda: _add_loop(x, y), repeats=20)[0] / N_ADDS * 1e6
    xg = U.tensor(np.ones(16, np.float32), requires_grad=True)
    res["add_grad"] = timeit(lambda: _add_loop(xg, y), repeats=20)[0] / N_ADDS * 1e6
    for n in (256, 1024):
        a = U.tensor(np.random.rand(n, n).astype(np.float32))
        b = U.tensor(np.random.rand(n, n).astype(np.float32))
        t = timeit(lambda: U.matmul(a, b), repeats=20 if n == 256 else 10)[0]
        res[f"matmul{n}"] = 2 * n**3 / t / 1e9
    x = U.tensor(np.random.rand(32, 64, 56, 56).astype(np.float32))
    w = U.tensor(np.random.rand(64, 64, 3, 3).astype(np.float32))
    res["conv2d"] = timeit(lambda: F.conv2d(x, w, padding=1), repeats=10, warmup=2)[0] * 1e3
    return res


def measure_numpy() -> dict:
    import numpy as np

    res = {}
    x = np.ones(16, np.float32)
    y = np.ones(16, np.float32)
    res["add_nograd"] = timeit(lambda: _add_loop(x, y), repeats=20)[0] / N_ADDS * 1e6
    for n in (256, 1024):
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        t = timeit(lambda: a @ b, repeats=20 if n == 256 else 10)[0]
        res[f"matmul{n}"] = 2 * n**3 / t / 1e9
    return res


def measure_torch() -> dict:
    import torch

    torch.set_num_threads(THREADS)
    res = {}
    x = torch.ones(16)
    y = torch.ones(16)
    with torch.no_grad():
        res["add_nograd"] = timeit(lambda: _add_loop(x, y), repeats=20)[0] / N_ADDS * 1e6
    xg = torch.ones(16, requires_grad=True)
    res["add_grad"] = timeit(lambda: _add_loop(xg, y), repeats=20)[0] / N_ADDS * 1e6
    with torch.no_grad():
        for n in (256, 1024):
            a = torch.rand(n, n)
            b = torch.rand(n, n)
            t = timeit(lambda: a @ b, repeats=20 if n == 256 else 10)[0]
            res[f"matmul{n}"] = 2 * n**3 / t / 1e9
        x = torch.rand(32, 64, 56, 56)
        w = torch.rand(64, 64, 3, 3)
        res["conv2d"] = timeit(lambda: torch.nn.functional.conv2d(x, w, padding=1),
                               repeats=10, warmup=2)[0] * 1e3
    return res


CASES = [  # key, label, unit, higher_is_better, target (ratio unified/torch)
    ("add_grad", "y = x + y, 16 floats, grad recorded", "us/op", False, "<= 1.0"),
    ("add_nograd", "y = x + y, 16 floats, no grad", "us/op", False, "<= 1.0"),
    ("matmul256", "matmul 256x256x256", "GFLOP/s", True, ">= 0.9"),
    ("matmul1024", "matmul 1024x1024x1024", "GFLOP/s", True, ">= 0.9"),
    ("conv2d", "conv2d 32x64x56x56, 64 3x3 filters, pad 1", "ms", False, "<= 1.2"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", choices=["unified", "numpy", "torch"])
    args = parser.parse_args()
    if args.peer:
        print(json.dumps({"unified": measure_unified, "numpy": measure_numpy,
                          "torch": measure_torch}[args.peer]()))
        return
    script = os.path.abspath(__file__)
    results = {p: run_peer(script, p) for p in ("unified", "numpy", "torch")}
    print(header(f"eager ops, {THREADS} threads, median of repeats"))
    have_torch = results["torch"] is not None
    columns = ["case", "unit", "unified", "numpy"] + (["torch", "ratio", "target"] if have_torch
                                                        else [])
    rows = []
    for key, label, unit, _higher, target in CASES:
        u = (results["unified"] or {}).get(key)
        n = (results["numpy"] or {}).get(key)
        row = [label, unit, fmt(u), fmt(n)]
        if have_torch:
            t = results["torch"].get(key)
            ratio = None if (u is None or t is None) else u / t
            row += [fmt(t), fmt(ratio), target]
        rows.append(row)
    print_table(columns, rows)
    if have_torch:
        print("# ratio = unified / torch (times: lower is better; GFLOP/s: higher is better)")


if __name__ == "__main__":
    main()
