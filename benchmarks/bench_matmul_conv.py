"""Matmul and conv2d timings of unified against PyTorch (when installed), median of repeats
after warm-up, on the kernel threads of this machine. Run: python benchmarks/bench_matmul_conv.py"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import unified as U
import unified.functional as F


def median_seconds(fn, repeats: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(threads: int):
    rng = np.random.default_rng(0)
    for n in (256, 1024):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        yield f"matmul {n}^3 GFLOP/s", 2 * n**3, (lambda a=a, b=b: (U.tensor(a), U.tensor(b))), \
            (lambda x, y: x @ y), (lambda a=a, b=b: (a, b)), (lambda x, y: x @ y)
    x = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)
    yield "conv2d 32x64x56x56 k3 p1 ms", None, (lambda: (U.tensor(x), U.tensor(w), U.tensor(bias))), \
        (lambda x, w, b: F.conv2d(x, w, b, padding=1)), (lambda: (x, w, bias)), None


def main() -> None:
    threads = U._core.get_num_threads()
    try:
        import torch
        import torch.nn.functional as TF

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    print(f"threads={threads} build={U._core.build_info()} torch={torch and torch.__version__}")
    print(f"{'case':32} | {'unified':>9} | {'torch':>9} | ratio")
    only = sys.argv[1:]
    for name, flops, make_u, run_u, make_np, _ in cases(threads):
        if only and not any(o in name for o in only):
            continue
        args = make_u()
        t_u = median_seconds(lambda: run_u(*args))
        t_t = None
        if torch is not None:
            targs = [torch.from_numpy(a) for a in make_np()]
            if "conv2d" in name:
                t_t = median_seconds(lambda: TF.conv2d(*targs, padding=1))
            else:
                t_t = median_seconds(lambda: targs[0] @ targs[1])
        if flops:
            vu, vt = flops / t_u / 1e9, (flops / t_t / 1e9 if t_t else None)
            ratio = f"{vu / vt:.2f}x of torch GFLOP/s" if vt else "n/a"
        else:
            vu, vt = t_u * 1e3, (t_t * 1e3 if t_t else None)
            ratio = f"{vu / vt:.2f}x torch time" if vt else "n/a"
        print(f"{name:32} | {vu:9.2f} | {vt if vt is None else round(vt, 2)!s:>9} | {ratio}")


if __name__ == "__main__":
    main()
