"""GPU benchmark (issue 8): W2 (benchmarks/train_eager.py's CNN on 1x32x32 digits) at batch
256, one SGD-momentum training step ending with loss.item(); and W4 (f(x) = gelu_tanh(x*1.7 +
0.3) * sigmoid(x), benchmarks/trace.py) on 1e8 float32 elements, ending with a device
synchronize. unified eager and traced (@U.trace: fused groups run as generated CUDA kernels in
one device arena, tracer/gpu_replay.py) beside PyTorch eager on the same GPU, each peer in its
own process: median ms, and W4's achieved bandwidth (8 bytes per element: one read, one write)
as a fraction of the device's peak (memoryClockRate * busWidth * 2 / 8, from CuPy's device
attributes). Targets: traced W4 >= 70% of peak; traced W2 <= 1.2x PyTorch eager.

    python benchmarks/gpu.py            # prints the table (exits with a message without a GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit  # noqa: E402
from train_eager import batches, digits_arrays  # noqa: E402

W2_BATCH = 256
W4_NUMEL = 10**8
W4_BYTES = 8 * W4_NUMEL  # read x, write f(x): what a fused kernel must move


def peak_bandwidth() -> tuple[float, str]:
    """Peak DRAM bytes/s and the device name, from CuPy's device attributes."""
    import cupy

    device = cupy.cuda.Device()
    attrs = device.attributes
    clock_hz = attrs["MemoryClockRate"] * 1e3  # reported in kHz
    bus_bytes = attrs["GlobalMemoryBusWidth"] / 8
    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"].decode()
    return clock_hz * bus_bytes * 2, name


def w4_function(tanh, sigmoid):
    def f(x):
        y = x * 1.7 + 0.3
        gelu = 0.5 * y * (1.0 + tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
        return gelu * sigmoid(x)

    return f


def _w2_data(to_device):
    images, labels = digits_arrays()
    padded = np.zeros((len(images), 1, 32, 32), np.float32)
    padded[:, 0, 12:20, 12:20] = images.reshape(-1, 8, 8)
    return [(to_device(x), to_device(y)) for x, y in batches(padded, labels, W2_BATCH, 8)]


def run_unified() -> dict:
    import unified as U
    import unified.cuda
    import unified.nn as nn
    import unified.optim as optim

    res: dict = {}
    U.manual_seed(0)
    data = _w2_data(lambda a: U.tensor(a).to("cuda"))
    for mode in ("eager", "traced"):
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).to("cuda")
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        fn = U.trace(step) if mode == "traced" else step
        it = iter(range(10**9))
        res[f"W2_{mode}"] = timeit(lambda: fn(*data[next(it) % 8]).item(), repeats=20,
                                   warmup=3)[0] * 1e3
    x = U.tensor(np.random.default_rng(0).standard_normal(W4_NUMEL, dtype=np.float32)).to("cuda")
    for mode in ("eager", "traced"):
        fn = w4_function(U.tanh, U.sigmoid)
        fn = U.trace(fn) if mode == "traced" else fn

        def call(fn=fn):
            fn(x)
            unified.cuda.synchronize()

        res[f"W4_{mode}"] = timeit(call, repeats=20, warmup=3)[0] * 1e3
    return res


def run_torch() -> dict:
    import torch

    res: dict = {}
    torch.manual_seed(0)
    data = _w2_data(lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda())
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    it = iter(range(10**9))
    res["W2_eager"] = timeit(lambda: step(*data[next(it) % 8]), repeats=20, warmup=3)[0] * 1e3
    x = torch.randn(W4_NUMEL, device="cuda")
    fn = w4_function(torch.tanh, torch.sigmoid)

    def call():
        fn(x)
        torch.cuda.synchronize()

    res["W4_eager"] = timeit(call, repeats=20, warmup=3)[0] * 1e3
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", choices=["unified", "torch"])
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(run_unified() if args.peer == "unified" else run_torch()))
        return
    import unified.cuda

    reason = unified.cuda.unavailable_reason()
    if reason is not None:
        print(f"benchmarks/gpu.py: no GPU to measure on: {reason}")
        return
    peak, name = peak_bandwidth()
    script = os.path.abspath(__file__)
    ours, torch_res = run_peer(script, "unified") or {}, run_peer(script, "torch") or {}
    print(header(f"GPU benchmark on {name} (peak DRAM bandwidth {peak / 1e9:.0f} GB/s)"))

    def bandwidth(ms):
        return None if ms is None else W4_BYTES / (ms / 1e3) / peak

    rows = []
    for key, label in (("W2", f"W2 CNN 1x32x32, batch {W2_BATCH}, train step"),
                       ("W4", "W4 gelu_tanh(x*1.7+0.3)*sigmoid(x), 1e8 floats")):
        eager, traced = ours.get(f"{key}_eager"), ours.get(f"{key}_traced")
        peer = torch_res.get(f"{key}_eager")
        ratio = None if traced is None or peer is None else traced / peer
        row = [label, fmt(eager), fmt(traced), fmt(peer), fmt(ratio)]
        if key == "W4":
            row.append(" / ".join(fmt(bandwidth(v)) for v in (eager, traced, peer)))
        else:
            row.append("")
        rows.append(row)
    print_table(["case (median ms)", "unified eager", "unified traced", "torch eager",
                 "traced/torch", "W4 fraction of peak BW (eager / traced / torch)"], rows)
    print("# targets: traced W4 >= 0.70 of peak bandwidth; traced W2 <= 1.2x torch eager")


if __name__ == "__main__":
    main()
