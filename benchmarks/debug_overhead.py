"""What the eager debugging tools cost (issue 10): per-op time of `y = x + y` on 16 floats (with
and without grad recording) and per-step time of a small MLP's forward + backward, with anomaly
detection off and on. Each mode runs in its own process. `--before DIR` adds a column measured
on another copy of the package (e.g. a copy of unified/ taken before a change), put first on
PYTHONPATH, so "off" can be compared with "before" in the same run.

    python benchmarks/debug_overhead.py [--before /tmp/old_tree]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, timeit  # noqa: E402

N_ADDS = 10_000
N_STEPS = 200


def _add_loop(x, y, n=N_ADDS):
    for _ in range(n):
        y = x + y
    return y


def measure(anomaly: bool) -> dict:
    import contextlib

    import numpy as np

    import unified as U

    U.set_num_threads(1)
    ctx = U.debug.detect_anomaly() if anomaly else contextlib.nullcontext()
    res = {}
    with ctx:
        x = U.tensor(np.ones(16, np.float32))
        y = U.tensor(np.ones(16, np.float32))
        res["add_nograd"] = timeit(lambda: _add_loop(x, y), repeats=15)[0] / N_ADDS * 1e6
        xg = U.tensor(np.ones(16, np.float32), requires_grad=True)
        res["add_grad"] = timeit(lambda: _add_loop(xg, y), repeats=15)[0] / N_ADDS * 1e6
        nn = U.nn
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                              nn.Linear(32, 4))
        data = U.tensor(np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32))

        def steps():
            for _ in range(N_STEPS):
                model(data).sum().backward()

        res["mlp_step"] = timeit(steps, repeats=7)[0] / N_STEPS * 1e6
    return res


CASES = [  # key, label, unit
    ("add_nograd", "y = x + y, 16 floats, no grad", "us/op"),
    ("add_grad", "y = x + y, 16 floats, grad recorded", "us/op"),
    ("mlp_step", "MLP 16-32-32-4 forward + backward, batch 8", "us/step"),
]


def _run(mode: str, pythonpath: str) -> dict | None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--mode", mode],
                          capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        print(f"# mode {mode} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["off", "on"])
    parser.add_argument("--before", help="a folder holding an older unified/ package")
    parser.add_argument("--tree", help="measure off/on on the unified/ package in this folder "
                                       "instead of this checkout's")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode == "on")))
        return
    root = args.tree or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = {"off": _run("off", root), "on": _run("on", root)}
    columns = ["case", "unit"]
    if args.before:
        results["before"] = _run("off", args.before)
        columns.append("before")
    columns += ["anomaly off", "anomaly on", "off / before" if args.before else "on / off"]
    print(header("eager debugging overhead, 1 thread, median of repeats"))
    rows = []
    for key, label, unit in CASES:
        off = (results["off"] or {}).get(key)
        on = (results["on"] or {}).get(key)
        row = [label, unit]
        if args.before:
            before = (results["before"] or {}).get(key)
            row.append(fmt(before))
            ratio = None if before is None or off is None else off / before
        else:
            ratio = None if off is None or on is None else on / off
        rows.append(row + [fmt(off), fmt(on), fmt(ratio)])
    print_table(columns, rows)


if __name__ == "__main__":
    main()
