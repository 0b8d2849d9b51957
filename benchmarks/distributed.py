"""Data-parallel benchmark (WORKLOAD W2: benchmarks/train_eager.py's CNN on 1x32x32 digits,
global batch 64, SGD momentum, each step ending with loss.item()): one process with 2 kernel
threads against 2 MPI processes with 1 thread each (DataParallel, batch 32 per rank), eager
and traced (U.trace). Reports samples per second, scaling efficiency (2 processes / 1 process
on the same cores) and, for the traced step, the all-reduce time per step and the fraction of
it hidden behind backward compute (Traced.profile(), rank 0), with MPICH's progress thread
off (the launcher's default on a 2-core machine) and on.

    python benchmarks/distributed.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, timeit  # noqa: E402
from train_eager import UnifiedAdapter, batches, digits_arrays  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLOBAL_BATCH = 64
CORES = 2
BUCKET_CAP_MB = 0.025  # W2 has 94 KB of gradients: 25 KB buckets give 5, so that early ones
# can start while backward still runs (with the default 25 MB the one bucket starts last)


def w2_model(U, nn, optim):
    """train_eager.py's W2 CNN and optimizer (its adapter without the thread setting)."""
    adapter = UnifiedAdapter.__new__(UnifiedAdapter)
    adapter.U, adapter.nn, adapter.optim = U, nn, optim
    return adapter.cnn()


def measure() -> dict | None:
    """One peer: eager and traced steps of W2 on this rank's share of each global batch."""
    import unified as U
    import unified.distributed as dist
    import unified.nn as nn
    import unified.optim as optim

    dist.init()
    rank, size = dist.get_rank(), dist.get_world_size()
    images, labels = digits_arrays()
    padded = np.zeros((len(images), 1, 32, 32), np.float32)
    padded[:, 0, 12:20, 12:20] = images.reshape(-1, 8, 8)
    local = GLOBAL_BATCH // size
    data = [(U.tensor(x[rank * local:(rank + 1) * local]), U.tensor(y[rank * local:(rank + 1)
                                                                      * local]))
            for x, y in batches(padded, labels, GLOBAL_BATCH, 8)]
    res = {}
    for mode in ("eager", "traced"):
        U.manual_seed(0)
        model, opt = w2_model(U, nn, optim)
        if size > 1:
            model = dist.DataParallel(model, bucket_cap_mb=BUCKET_CAP_MB)
            res["buckets"] = len(model.buckets)

        def train_step(x, y):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        fn = U.trace(train_step) if mode == "traced" else train_step
        it = iter(range(10**9))
        step = lambda: fn(*data[next(it) % 8]).item()  # noqa: E731
        seconds = timeit(step, repeats=30, warmup=5)[0]
        res[f"{mode}_sps"] = GLOBAL_BATCH / seconds
        if mode == "traced" and size > 1:  # medians over profiled steps
            timelines = [fn.profile(*data[k % 8]) for k in range(15)]
            res["comm_ms"] = float(np.median([t.comm_ns for t in timelines])) / 1e6
            res["hidden"] = float(np.median([t.hidden_fraction for t in timelines]))
            res["wait_ms"] = float(np.median([t.wait_ns for t in timelines])) / 1e6
    return res if rank == 0 else None


def run(nprocs: int, async_progress: str = "off") -> dict | None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    env["UNIFIED_NUM_THREADS"] = str(CORES // nprocs)
    script = os.path.abspath(__file__)
    if nprocs == 1:
        cmd = [sys.executable, script, "--peer"]
    else:
        cmd = [sys.executable, "-m", "unified.distributed.launch", "-n", str(nprocs),
               "--async-progress", async_progress, script, "--peer"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = proc.stderr.strip().splitlines()
        print(f"# {nprocs} processes: not measured ({err[-1] if err else 'no output'})",
              file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", action="store_true")
    args = parser.parse_args()
    if args.peer:
        res = measure()
        if res is not None:
            print(json.dumps(res), flush=True)
        return
    one = run(1) or {}
    runs = {"off": run(2, "off") or {}, "on": run(2, "on") or {}}
    buckets = runs["off"].get("buckets", "n/a")
    print(header(f"data-parallel training, W2 CNN, global batch {GLOBAL_BATCH}, {CORES} cores, "
                 f"{buckets} gradient buckets of <= {BUCKET_CAP_MB * 1024:.0f} KB"))
    rows = []
    for mode in ("eager", "traced"):
        base = one.get(f"{mode}_sps")
        rows.append([f"{mode}: 1 process x {CORES} threads", fmt(base, 0), "1.00", "", "", ""])
        for progress, two in runs.items():
            sps = two.get(f"{mode}_sps")
            eff = None if (sps is None or not base) else sps / base
            traced = mode == "traced"
            hidden = two.get("hidden") if traced else None
            rows.append([f"{mode}: 2 processes x 1 thread, progress thread {progress}",
                         fmt(sps, 0), fmt(eff), fmt(two.get("comm_ms")) if traced else "",
                         fmt(two.get("wait_ms")) if traced else "",
                         "n/a" if hidden is None else f"{100 * hidden:.0f}%"])
    print_table(["case", "samples/s", "scaling eff.", "all-reduce ms/step", "waiting ms/step",
                 "hidden"], rows)
    print("# scaling eff. = samples/s of 2 processes / samples/s of 1 process on the same cores\n"
          "# all-reduce ms: from each bucket's all_reduce_start to the end of its wait\n"
          "#   (Traced.profile on rank 0, median of 15 steps); hidden: the share of that time\n"
          "#   overlapped by compute steps; waiting: time blocked in all_reduce_wait")


if __name__ == "__main__":
    main()
