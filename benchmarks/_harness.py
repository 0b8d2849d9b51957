"""Benchmark harness shared by benchmarks/*.py: timing (warm-up, repeats, median and IQR),
running each framework in its own process, a header of machine facts and a table printer.
A missing peer shows `n/a` and never fails the run."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable


def timeit(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> tuple[float, float]:
    """Median and IQR of fn's wall time in seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    q1, q3 = samples[len(samples) // 4], samples[(3 * len(samples)) // 4]
    return statistics.median(samples), q3 - q1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(title: str) -> str:
    import numpy as np

    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    try:
        import unified

        versions.append(f"unified {unified.__version__} ({unified._core.build_info()['simd']})")
    except ImportError:
        pass
    try:
        import importlib.metadata as md

        versions.append(f"torch {md.version('torch')}")
    except Exception:
        versions.append("torch not installed")
    return (f"# {title}\n# machine: {os.cpu_count()} cores, {cpu_model()}\n"
            f"# {', '.join(versions)}")


def run_peer(script: str, peer: str, timeout: float = 900) -> dict | None:
    """Run `script --peer <peer>` in its own process; it prints one JSON dict on its last line.
    Returns None when the peer is missing or fails (the table shows n/a)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)  # a source checkout works without installing: the repo root first
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, script, "--peer", peer], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        print(f"# peer {peer}: not measured ({err[-1] if err else 'no output'})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = " | ".join(str(c).ljust(w) for c, w in zip(columns, widths))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(r, widths)))
