"""Traced benchmark (WORKLOADS W1, W2, W4, W6): median ms per training step (forward,
backward, SGD momentum update, ending with loss.item()) for unified eager, unified traced
(U.trace: replay through the lowered C++ plan), PyTorch eager and torch.compile (when
installed), and memory: peak RSS above the imports-only baseline, over the whole run and in
the steady state (the peak of the timed steps after warm-up, which for unified traced excludes
the two eager recording calls). W4 times f(x) = gelu_tanh(x*1.7 + 0.3) * sigmoid(x) on 1e6
floats with gelu written from primitive ops (traced: one fused kernel). Each framework and
workload group runs in its own process; the adapters and the digits data come from
benchmarks/train_eager.py.

    python benchmarks/trace.py
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit
from train_eager import (
    THREADS,
    TorchAdapter,
    UnifiedAdapter,
    batches,
    digits_arrays,
    maxrss_bytes,
)

PEERS = ("unified", "unified_trace", "torch", "torch_compile")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def steady_peak_start() -> None:
    """Give freed heap back to the OS and reset the peak RSS (Linux: clear_refs 5), so the
    next VmHWM read is the peak of what runs from here on."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def run_small(fw) -> dict:
    """W1 and W2 as in train_eager.py."""
    images, labels = digits_arrays()
    res = {}
    it = iter(range(10**9))
    model, opt = fw.mlp()
    data = [(fw.tensor(x), fw.tensor(y)) for x, y in batches(images, labels, 64, 8)]
    step = fw.stepper(model, opt)
    res["W1"] = timeit(lambda: step(*data[next(it) % 8]), repeats=50, warmup=5)[0] * 1e3
    padded = np.zeros((len(images), 1, 32, 32), np.float32)
    padded[:, 0, 12:20, 12:20] = images.reshape(-1, 8, 8)
    model, opt = fw.cnn()
    data = [(fw.tensor(x), fw.tensor(y)) for x, y in batches(padded, labels, 32, 8)]
    step = fw.stepper(model, opt)
    res["W2"] = timeit(lambda: step(*data[next(it) % 8]), repeats=20, warmup=3)[0] * 1e3
    return res


def run_w6(fw) -> dict:
    """W6: MLP 1024 wide x 16 layers, batch 256, SGD momentum; time and memory."""
    baseline = _status_kib("VmRSS") * 1024
    model, opt = fw.wide()
    rng = np.random.default_rng(0)
    x = fw.tensor(rng.standard_normal((256, 1024)).astype(np.float32))
    y = fw.tensor(rng.integers(0, 10, 256).astype(np.int64))
    step = fw.stepper(model, opt)
    for _ in range(3):  # warm-up (for unified traced: two recordings, then a replay)
        step(x, y)
    steady_peak_start()
    ms = timeit(lambda: step(x, y), repeats=5, warmup=0)[0] * 1e3
    return {"W6": ms, "W6_mem": (_status_kib("VmHWM") * 1024 - baseline) / 2**20,
            "W6_mem_all": (maxrss_bytes() - baseline) / 2**20}


class _Steps:
    """Adds wide() and stepper() to the train_eager adapters."""

    def wide(self):
        nn = self.nn
        layers = []
        for _ in range(15):
            layers += [nn.Linear(1024, 1024), nn.ReLU()]
        m = nn.Sequential(*layers, nn.Linear(1024, 10))
        return m, self.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

    def stepper(self, model, opt):
        return lambda x, y: self.step(model, opt, x, y)


class UnifiedEager(_Steps, UnifiedAdapter):
    pass


class UnifiedTraced(_Steps, UnifiedAdapter):
    def stepper(self, model, opt):
        F = self.nn.functional

        def train_step(x, y):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        traced = self.U.trace(train_step)
        return lambda x, y: traced(x, y).item()


class TorchEager(_Steps, TorchAdapter):
    pass


class TorchCompiled(_Steps, TorchAdapter):
    def stepper(self, model, opt):
        compiled = self.U.compile(model)
        return lambda x, y: self.step(compiled, opt, x, y)


def w4_function(tanh, sigmoid):
    def f(x):
        y = x * 1.7 + 0.3
        gelu = 0.5 * y * (1.0 + tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
        return gelu * sigmoid(x)

    return f


def run_w4(name: str) -> dict:
    """W4 for one peer; each call ends with the result read back to NumPy."""
    data = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32)
    if name.startswith("unified"):
        import unified as U

        U.set_num_threads(THREADS)
        x, fn = U.tensor(data), w4_function(U.tanh, U.sigmoid)
        if name == "unified_trace":
            fn = U.trace(fn)
    else:
        import torch

        torch.set_num_threads(THREADS)
        x, fn = torch.from_numpy(data), w4_function(torch.tanh, torch.sigmoid)
        if name == "torch_compile":
            fn = torch.compile(fn)
    return {"W4": timeit(lambda: fn(x).numpy(), repeats=20, warmup=5)[0] * 1e3}


ADAPTERS = {"unified": UnifiedEager, "unified_trace": UnifiedTraced, "torch": TorchEager,
            "torch_compile": TorchCompiled}
CASES = [  # key, label, unit
    ("W1", "W1 MLP 64-256-256-10, batch 64, step", "ms"),
    ("W2", "W2 CNN 1x32x32, batch 32, step", "ms"),
    ("W4", "W4 gelu_tanh(x*1.7+0.3)*sigmoid(x), 1e6 floats", "ms"),
    ("W6", "W6 MLP 1024x16, batch 256, step", "ms"),
    ("W6_mem", "W6 steady peak RSS above imports", "MiB"),
    ("W6_mem_all", "W6 whole-run peak RSS above imports", "MiB"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer")
    args = parser.parse_args()
    if args.peer:
        name, work = args.peer.split(":")
        if work == "W4":
            print(json.dumps(run_w4(name)))
            return
        adapter = ADAPTERS[name]()
        print(json.dumps(run_w6(adapter) if work == "W6" else run_small(adapter)))
        return
    script = os.path.abspath(__file__)
    results = {}
    for peer in PEERS:
        small = run_peer(script, f"{peer}:small") or {}
        wide = run_peer(script, f"{peer}:W6") or {}
        fused = run_peer(script, f"{peer}:W4") or {}
        results[peer] = {**small, **wide, **fused}
    print(header(f"traced training, {THREADS} threads, median ms per step"))
    rows = []
    for key, label, unit in CASES:
        values = [results[p].get(key) for p in PEERS]
        eager, traced, torch, compiled = values

        def ratio(a, b):
            return None if (a is None or b is None) else a / b

        rows.append([label, unit, *[fmt(v) for v in values], fmt(ratio(eager, traced)),
                     fmt(ratio(traced, torch)), fmt(ratio(traced, compiled)),
                     fmt(ratio(traced, eager))])
    print_table(["case", "unit", "unified eager", "unified trace", "torch", "torch.compile",
                 "eager/trace", "trace/torch", "trace/compile", "trace/eager"], rows)
    print("# eager/trace: speed-up of tracing; trace/torch, trace/compile, trace/eager: lower is "
          "better.\n# targets: W1 trace/torch <= 0.5 and trace/compile < 1; W2 and W4 "
          "trace/compile <= 1;\n# W6 memory trace/torch <= 0.7 and trace/eager <= 0.6")

if __name__ == "__main__":
    main()
