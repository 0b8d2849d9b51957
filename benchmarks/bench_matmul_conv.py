"""Matmul GFLOP/s and conv2d times of unified next to PyTorch (each in its own process, same
thread count; torch shows n/a when not installed). Run: python benchmarks/bench_matmul_conv.py
[--threads N]. Cases: matmul 256^3 and 1024^3, conv2d 32x64x56x56 * 64x3x3 (pad 1) forward and
forward + backward."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit  # noqa: E402

CONV_INPUT, CONV_WEIGHT = (32, 64, 56, 56), (64, 64, 3, 3)
CONV_FLOPS = 2 * 32 * 64 * 56 * 56 * 64 * 9


def _data():
    rng = np.random.default_rng(0)
    mats = {n: (rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32))
            for n in (256, 1024)}
    conv = tuple(rng.standard_normal(shape, np.float32)
                 for shape in (CONV_INPUT, CONV_WEIGHT, CONV_WEIGHT[:1]))
    return mats, conv


def measure(peer: str, threads: int) -> dict:
    """Median seconds per case for one framework."""
    mats, (x, w, b) = _data()
    if peer == "torch":
        import torch as lib
        import torch.nn.functional as F

        lib.set_num_threads(threads)
        wrap = lib.from_numpy
    else:
        import unified as lib
        import unified.functional as F

        lib._core.set_num_threads(threads)
        wrap = lib.tensor
    time.sleep(1.0)  # let the kernel settle after ~70 MB of fresh pages (it skews the first case)
    out = {}
    for n, (a, c) in mats.items():
        ta, tc = wrap(a), wrap(c)
        out[f"matmul {n}^3"] = timeit(lambda: ta @ tc, repeats=30 if n < 512 else 10)[0]
    tx, tw, tb = wrap(x), wrap(w), wrap(b)
    out["conv2d forward"] = timeit(lambda: F.conv2d(tx, tw, tb, padding=1), repeats=10)[0]
    gx, gw = wrap(x).requires_grad_(True), wrap(w).requires_grad_(True)

    def train_step():
        F.conv2d(gx, gw, tb, padding=1).sum().backward()

    out["conv2d forward+backward"] = timeit(train_step, repeats=5, warmup=1)[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", choices=["unified", "torch"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(measure(args.peer, args.threads)))
        return
    print(header(f"matmul and conv2d, {args.threads} threads"))
    results = {p: run_peer(__file__, p) for p in ("unified", "torch")}
    rows = []
    for case in (results["unified"] or {}):
        u, t = results["unified"][case], (results["torch"] or {}).get(case)
        if case.startswith("matmul"):
            n = int(case.split()[1].split("^")[0])
            gu, gt = 2 * n**3 / u / 1e9, (2 * n**3 / t / 1e9 if t else None)
            rows.append([case + " (GFLOP/s)", fmt(gu, 1), fmt(gt, 1), fmt(gu / gt if gt else None)])
        else:
            rows.append([case + " (ms)", fmt(u * 1e3, 1), fmt(t * 1e3 if t else None, 1),
                         fmt(u / t if t else None)])
    print_table(["case", "unified", "torch", "ratio (throughput / time)"], rows)


if __name__ == "__main__":
    main()
