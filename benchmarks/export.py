"""Export benchmark (WORKLOADS W5 and beyond): inference latency of the digits CNN (the W2 CNN
in eval mode) and a ResNet-style CNN at batch 1 and 32: unified eager, the loaded bundle run
by C++ through `_core`, onnxruntime on our ONNX file, and PyTorch eager when installed, each
with 1 thread and with every core, median µs per call (the result read back to NumPy); file
sizes of the ONNX model and the bundle. Each (framework, threads) pair runs in its own
process; the models are exported once into a temporary folder first.

    python benchmarks/export.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, run_peer, timeit

MODELS = ("digits_cnn", "resnet")
BATCHES = (1, 32)
PEERS = ("unified", "bundle", "onnxruntime", "torch")


def build(nn, name: str):
    """The model (eval mode), written once for unified.nn and torch.nn (same names)."""
    if name == "digits_cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).eval()

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
            self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(x + self.b2(self.c2(self.relu(self.b1(self.c1(x))))))

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         Block(32), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                         nn.BatchNorm2d(64), nn.ReLU(), Block(64), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, 10)).eval()


def state_arrays(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def export_all(folder: str) -> dict:
    """Write <model>.onnx (dynamic batch), <model>_b<N>.ufb and <model>.npz (weights, for
    torch); returns the file sizes."""
    import unified as U
    from unified import export, nn

    sizes = {}
    for name in MODELS:
        U.manual_seed(0)
        model = build(nn, name)
        np.savez(os.path.join(folder, f"{name}.npz"), **state_arrays(model))
        example = (U.zeros(1, 1, 32, 32),)
        onnx_path = os.path.join(folder, f"{name}.onnx")
        export.to_onnx(model, example, onnx_path, input_names=["x"],
                       dynamic_axes={"x": {0: "batch"}})
        sizes[f"{name}.onnx"] = os.path.getsize(onnx_path)
        for batch in BATCHES:
            path = os.path.join(folder, f"{name}_b{batch}.ufb")
            export.save_bundle(model, (U.zeros(batch, 1, 32, 32),), path)
            sizes[f"{name}_b{batch}.ufb"] = os.path.getsize(path)
    return sizes


def measure(peer: str, threads: int, folder: str) -> dict:
    data = {b: np.random.default_rng(b).standard_normal((b, 1, 32, 32)).astype(np.float32)
            for b in BATCHES}
    res = {}
    for name in MODELS:
        for batch in BATCHES:
            x = data[batch]
            if peer == "unified":
                import unified as U
                from unified import nn

                U.set_num_threads(threads)
                model = build(nn, name)
                model.load_state_dict({k: U.tensor(v) for k, v in
                                       np.load(os.path.join(folder, f"{name}.npz")).items()})
                xt = U.tensor(x)

                def call(model=model, xt=xt):
                    with U.no_grad():
                        model(xt).numpy()
            elif peer == "bundle":
                import unified as U
                from unified import export

                U.set_num_threads(threads)
                m = export.load_bundle(os.path.join(folder, f"{name}_b{batch}.ufb"))

                def call(m=m, x=x):
                    np.asarray(m(x))
            elif peer == "onnxruntime":
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(os.path.join(folder, f"{name}.onnx"), opts,
                                            providers=["CPUExecutionProvider"])
                feed_name = sess.get_inputs()[0].name

                def call(sess=sess, x=x):
                    sess.run(None, {feed_name: x})
            else:
                import torch

                torch.set_num_threads(threads)
                model = build(torch.nn, name)
                model.load_state_dict({k: torch.from_numpy(v) for k, v in
                                       np.load(os.path.join(folder, f"{name}.npz")).items()})
                xt = torch.from_numpy(x)

                def call(model=model, xt=xt):
                    with torch.no_grad():
                        model(xt).numpy()
            repeats = 200 if batch == 1 else 30
            res[f"{name}:{batch}"] = timeit(call, repeats=repeats, warmup=10)[0] * 1e6
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer")
    args = parser.parse_args()
    if args.peer:
        peer, threads = args.peer.split(":")
        print(json.dumps(measure(peer, int(threads), os.environ["UNIFIED_EXPORT_BENCH_DIR"])))
        return
    cores = os.cpu_count() or 1
    script = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory() as folder:
        sizes = export_all(folder)
        os.environ["UNIFIED_EXPORT_BENCH_DIR"] = folder  # the peers' processes read it
        results = {}
        for peer in PEERS:
            for threads in sorted({1, cores}):
                results[(peer, threads)] = run_peer(script, f"{peer}:{threads}") or {}
    print(header("exported inference, median µs per call (result read back to NumPy)"))
    rows = []
    for name in MODELS:
        for batch in BATCHES:
            for threads in sorted({1, cores}):
                v = [results[(p, threads)].get(f"{name}:{batch}") for p in PEERS]
                ratio = None if v[1] is None or v[2] is None else v[1] / v[2]
                rows.append([name, str(batch), str(threads), *[fmt(x, 1) for x in v],
                             fmt(ratio)])
    print_table(["model", "batch", "threads", "unified eager", "bundle (_core)",
                 "onnxruntime", "torch eager", "bundle/ort"], rows)
    print("# target: bundle/ort <= 1.0 at batch 1 with the same thread count")
    print_table(["file", "bytes"], [[k, f"{v:,}"] for k, v in sizes.items()])


if __name__ == "__main__":
    main()
