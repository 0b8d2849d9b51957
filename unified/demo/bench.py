"""`unified bench model.ufb`: a bundle's latency from Python (the bundle run by C++ through
`_core`, as `export.load_bundle` runs it): min/median/max µs per run over --iters runs after
--warmup, on random inputs from --seed or on --input .npy files, and with --verify the largest
difference over the bundle's stored reference pairs. The standalone runtime's own tool,
unified-run (mobile/tools/unified_run.cpp), measures the same without Python."""

from __future__ import annotations

import argparse
import time

import numpy as np


def run(args: argparse.Namespace) -> int:
    import unified as U
    from unified.export import load_bundle

    if args.iters < 1 or args.warmup < 0 or args.threads < 1:
        raise ValueError(f"--iters must be >= 1, --warmup >= 0 and --threads >= 1; got "
                         f"{args.iters}, {args.warmup} and {args.threads}")
    model = load_bundle(args.bundle)
    specs = [(name, np.dtype(dtype), tuple(shape)) for name, dtype, shape, *_ in
             model._inputs]
    inputs = _inputs(specs, args.input, args.seed)
    previous = U.get_num_threads()
    U.set_num_threads(args.threads)
    try:
        for _ in range(args.warmup):
            model.run(*inputs)
        samples = []
        for _ in range(args.iters):
            start = time.perf_counter()
            model.run(*inputs)
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        U.set_num_threads(previous)
    samples.sort()
    print(f"bundle {args.bundle}: {', '.join(f'{n} {d}{list(s)}' for n, d, s in specs)}")
    print(f"latency over {args.iters} runs ({args.warmup} warm-up, {args.threads} thread"
          f"{'' if args.threads == 1 else 's'}): min {samples[0]:.1f} µs, median "
          f"{float(np.median(samples)):.1f} µs, max {samples[-1]:.1f} µs")
    print(f"memory: arena {model.arena_bytes:,} bytes")
    if args.verify:
        worst = model.verify()  # raises BundleError (exit 1) on a mismatch
        print(f"verify: ok ({model.num_references} pairs, max abs diff {worst:.3g})")
    return 0


def _inputs(specs: list[tuple[str, np.dtype, tuple]], files: list[str],
            seed: int) -> list[np.ndarray]:
    if files and len(files) != len(specs):
        raise ValueError(f"--input given {len(files)} times; the bundle has {len(specs)} "
                         f"inputs ({', '.join(n for n, _, _ in specs)})")
    if files:
        return [np.load(path, allow_pickle=False) for path in files]
    rng = np.random.default_rng(seed)
    arrays = []
    for _, dtype, shape in specs:
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind in "iu":
            high = 256 if dtype.kind == "u" else 10
            arrays.append(rng.integers(0, high, shape).astype(dtype))
        else:
            arrays.append(rng.integers(0, 2, shape).astype(dtype))
    return arrays
