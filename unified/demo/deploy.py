"""The demo's deployment half: the inference function with its pre-processing (uint8 -> float,
normalise) and post-processing (softmax, top-3), exported to ONNX and to a bundle, then run
eagerly, traced, in the standalone C++ runtime (unified-run, through .npy files) and in
onnxruntime. Each run gives one `Column` of the summary table (table.py); a run that cannot
happen (no compiler for the runtime, no onnxruntime) gives a reason instead.

Files written to the report folder: model.onnx (dynamic batch), model.ufb (batch 1: the
deployable file, timed), check/model_test.ufb (the whole test set as one batch: bundles run at
their recorded shape, so accuracy and agreement use this one), check/*.npy, runtime/ (the
trimmed build, kept so a second demo with the same --out rebuilds incrementally)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

TOP_K = 3


@dataclasses.dataclass
class Column:
    """One column of the summary table; None is a blank cell (the row does not apply)."""

    name: str
    accuracy: float | None = None
    train_step_ms: float | None = None
    memory: str | None = None
    latency_us: float | None = None
    max_abs_diff: float | None = None
    size: str | None = None
    outputs: list[np.ndarray] | None = None  # flat outputs on the test set
    note: str | None = None  # a line printed under the table


def make_infer(model: Any, mean: float, std: float) -> Callable[[Any], Any]:
    import unified.functional as F
    from unified.demo.train import preprocess

    def infer(img_u8):
        probs = F.softmax(model(preprocess(img_u8, mean, std)), dim=1)
        return probs.topk(TOP_K, dim=1)

    return infer


def flat_outputs(result: Any) -> list[np.ndarray]:
    """(values, indices) of topk, as NumPy arrays."""
    return [np.asarray(t.numpy() if hasattr(t, "numpy") else t) for t in result]


def accuracy(outputs: list[np.ndarray], labels: np.ndarray) -> float:
    return float((outputs[1][:, 0] == labels).mean())


def max_abs_diff(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
               for a, b in zip(outputs, reference))


def latency_us(call: Callable[[], Any], iters: int, warmup: int) -> float:
    """Median wall time of call() in microseconds."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples) * 1e6)


def kib(nbytes: int) -> str:
    return f"{nbytes / 1024:,.1f} KiB"


# ---- columns -----------------------------------------------------------------------------------
def eager_column(infer: Callable, test_u8: np.ndarray, labels: np.ndarray, iters: int,
                 warmup: int) -> Column:
    import unified as U

    with U.no_grad():
        outputs = flat_outputs(infer(U.tensor(test_u8)))
        one = U.tensor(test_u8[:1])
        lat = latency_us(lambda: flat_outputs(infer(one)), iters, warmup)
    return Column("eager", accuracy(outputs, labels), latency_us=lat, outputs=outputs)


def traced_column(infer: Callable, test_u8: np.ndarray, labels: np.ndarray, iters: int,
                  warmup: int) -> Column:
    """U.trace(infer): the first two calls record, the third replays the graph."""
    import unified as U

    whole, single = U.trace(infer), U.trace(infer)
    x, one = U.tensor(test_u8), U.tensor(test_u8[:1])
    with U.no_grad():
        for _ in range(3):
            outputs = flat_outputs(whole(x))
        lat = latency_us(lambda: flat_outputs(single(one)), iters, max(warmup, 3))
    return Column("traced", accuracy(outputs, labels), latency_us=lat, outputs=outputs)


def export_files(infer: Callable, test_u8: np.ndarray, out: str) -> dict[str, str]:
    """model.onnx, model.ufb (batch 1) and check/model_test.ufb (the test set); their paths."""
    import unified as U
    from unified import export

    os.makedirs(os.path.join(out, "check"), exist_ok=True)
    paths = {"onnx": os.path.join(out, "model.onnx"), "bundle": os.path.join(out, "model.ufb"),
             "bundle_test": os.path.join(out, "check", "model_test.ufb")}
    one = (U.tensor(test_u8[:1]),)
    export.to_onnx(infer, one, paths["onnx"], input_names=["img_u8"],
                   output_names=["probs", "classes"], dynamic_axes={"img_u8": {0: "batch"}})
    meta = {"class_names": [str(d) for d in range(10)], "input": "uint8 (N, 1, 8, 8), 0..255"}
    export.save_bundle(infer, one, paths["bundle"], metadata=meta,
                       output_names=["probs", "classes"])
    export.save_bundle(infer, (U.tensor(test_u8),), paths["bundle_test"],
                       output_names=["probs", "classes"])
    return paths


def onnx_column(path: str, test_u8: np.ndarray, labels: np.ndarray, threads: int, iters: int,
                warmup: int) -> Column:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    outputs = [np.asarray(a) for a in sess.run(None, {"img_u8": test_u8})]
    one = {"img_u8": test_u8[:1]}
    lat = latency_us(lambda: sess.run(None, one), iters, warmup)
    return Column("ONNX (onnxruntime)", accuracy(outputs, labels), latency_us=lat,
                  size=f"{kib(os.path.getsize(path))} model.onnx", outputs=outputs)


def runtime_column(paths: dict[str, str], test_u8: np.ndarray, labels: np.ndarray,
                   runtime_dir: str, threads: int, iters: int, warmup: int) -> Column:
    """Build the trimmed runtime for model.ufb, run check/model_test.ufb on the test set and
    time model.ufb at batch 1 (unified-run --json --verify). Raises on any failure; the
    caller turns that into the column's reason."""
    from unified.export import load_bundle
    from unified.mobile import build_runtime

    # native: this machine's vector units, as unified._core, so the runtime gives its bits
    rt = build_runtime(paths["bundle"], runtime_dir, trimmed=True, full=False, native=True)
    check = os.path.dirname(paths["bundle_test"])
    np.save(os.path.join(check, "test_u8.npy"), test_u8)
    _unified_run(rt.unified_run, paths["bundle_test"], "--input",
                 os.path.join(check, "test_u8.npy"), "--iters", "1", "--warmup", "0",
                 "--threads", str(threads), "--save-outputs", check)
    names = load_bundle(paths["bundle_test"]).output_names
    outputs = [np.load(os.path.join(check, f"{name}.npy")) for name in names]
    timing = _unified_run(rt.unified_run, paths["bundle"], "--iters", str(iters), "--warmup",
                          str(warmup), "--threads", str(threads), "--verify")
    memory = f"{kib(timing['arena_bytes'] + timing['model_bytes'])} arena + weights"
    size = (f"{kib(os.path.getsize(paths['bundle']))} model.ufb + "
            f"{kib(os.path.getsize(rt.unified_run))} unified-run")
    note = (f"runtime: unified-run trimmed to {len(rt.kernels)} kernels, built with -Os "
            f"(build-runtime's default) and -march=native in {rt.out_dir}")
    return Column("bundle (runtime)", accuracy(outputs, labels), memory=memory,
                  latency_us=timing["latency_ms"]["median"] * 1e3, size=size, outputs=outputs,
                  note=note)


def _unified_run(exe: Any, *args: str) -> dict:
    proc = subprocess.run([str(exe), *args, "--json"], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"unified-run exited with {proc.returncode}: "
                           f"{lines[-1] if lines else 'no output'}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
