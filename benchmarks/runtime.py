"""Edge runtime benchmark (issue 6): the digits CNN and the ResNet-style CNN of
benchmarks/export.py at batch 1. Latency: `unified-run` (the standalone C++ runtime, 1 thread,
median of urt_run) against onnxruntime (1 thread, on our ONNX export, run through IO binding so
that no Python-side copy is timed), interleaved: --rounds rounds of (unified-run, onnxruntime)
per model, each a median over --iters runs; the table gives the median over rounds of each and
of the per-round ratio, and the load average (other processes skew both sides). Sizes: the
trimmed runtime executable for each model (stripped), the full runtime (every kernel, same
build) and onnxruntime's C library as pip installs it.

    python benchmarks/runtime.py [--build-dir build/runtime_bench] [--iters 500] [--rounds 5]

Two builds, named in the tables (mobile/CMakeLists.txt): latency comes from the speed build
(-O3 -march=native like unified._core, OpenMP, every kernel; onnxruntime also picks its
kernels for this machine at run time); sizes from the size build `unified build-runtime` makes
by default (-Os, LTO, compact kernels, packed relocations, no RELRO, OpenMP on). Builds are
kept in --build-dir (incremental on a second run)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt, header, print_table, timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("digits_cnn", "resnet")


def export_models(folder: str) -> dict[str, tuple[str, str, np.ndarray]]:
    """<model>.ufb and <model>.onnx at batch 1; returns name -> (bundle, onnx, input)."""
    import unified as U
    from export import build
    from unified import export, nn

    out = {}
    for name in MODELS:
        U.manual_seed(0)
        model = build(nn, name)
        x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
        bundle, onnx_path = (os.path.join(folder, f"{name}.{ext}") for ext in ("ufb", "onnx"))
        export.save_bundle(model, (U.tensor(x),), bundle)
        export.to_onnx(model, (U.tensor(x),), onnx_path, input_names=["x"])
        out[name] = (bundle, onnx_path, x)
    return out


SPEED_BUILD = "speed build: -O3 -march=native, OpenMP, every kernel"
SIZE_BUILD = "size build (the default): -Os, LTO, one conv tile shape, OpenMP, generic x86-64"


def unified_run_ms(exe: str, bundle: str, x_path: str, iters: int) -> float:
    proc = subprocess.run([exe, bundle, "--input", x_path, "--iters", str(iters), "--warmup",
                           str(max(10, iters // 10)), "--threads", "1", "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["latency_ms"]["median"]


def onnxruntime_runner(onnx_path: str, x: np.ndarray):
    """A function(iters) -> median ms of one onnxruntime session (1 thread, IO binding), or
    None when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    binding = sess.io_binding()
    binding.bind_cpu_input(sess.get_inputs()[0].name, x)
    binding.bind_output(sess.get_outputs()[0].name, "cpu")

    def run(iters: int) -> float:
        median, _ = timeit(lambda: sess.run_with_iobinding(binding), repeats=iters,
                           warmup=max(10, iters // 10))
        return median * 1e3

    return run


def interleaved(ours, theirs, rounds: int) -> tuple[float, float | None, float | None]:
    """Medians over `rounds` alternating calls of ours() and theirs() (None: no peer), and the
    median of the per-round ratios."""
    a, b = [], []
    for _ in range(rounds):
        a.append(ours())
        if theirs is not None:
            b.append(theirs())
    if not b:
        return float(np.median(a)), None, None
    return (float(np.median(a)), float(np.median(b)),
            float(np.median(np.array(a) / np.array(b))))


def onnxruntime_library() -> tuple[str, int] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    libs = glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime.so*"))
    return (os.path.basename(libs[0]), os.path.getsize(libs[0])) if libs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build", "runtime_bench"))
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from unified.mobile import build_runtime

    folder = os.path.abspath(args.build_dir)
    os.makedirs(folder, exist_ok=True)
    models = export_models(folder)
    sizes, latency = {}, {}
    fast = build_runtime(models["digits_cnn"][0], os.path.join(folder, "speed"), opt="speed",
                         native=True, trimmed=False)
    for i, (name, (bundle, onnx_path, x)) in enumerate(models.items()):
        rt = build_runtime(bundle, os.path.join(folder, f"size_{name}"), full=(i == 0))
        sizes[f"unified-run, trimmed for {name}"] = rt.unified_run.stat().st_size
        if rt.unified_run_full is not None:
            sizes["unified-run, full (every kernel)"] = rt.unified_run_full.stat().st_size
        x_path = os.path.join(folder, f"{name}_x.npy")
        np.save(x_path, x)
        peer = onnxruntime_runner(onnx_path, x)
        latency[name] = interleaved(
            lambda: unified_run_ms(str(fast.unified_run), bundle, x_path, args.iters),
            None if peer is None else (lambda: peer(args.iters)), args.rounds)
    compact = build_runtime(models["digits_cnn"][0], os.path.join(folder, "size_compact"),
                            full=False, compact_gemm=True)
    sizes["unified-run, trimmed for digits_cnn, compact GEMM"] = compact.unified_run.stat().st_size
    lib = onnxruntime_library()
    if lib:
        sizes[f"onnxruntime {lib[0]} (pip)"] = lib[1]

    print(header("edge runtime at batch 1, 1 thread: median ms per run"))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# {SPEED_BUILD}; {args.rounds} interleaved rounds of {args.iters} runs each; "
          f"load average {load}")
    rows = []
    for name, (ours, ort_ms, ratio) in latency.items():
        rows.append([name, fmt(ours, 4), fmt(ort_ms, 4), fmt(ratio)])
    print_table(["model", "unified-run", "onnxruntime", "unified/ort"], rows)
    print("# target: unified/ort <= 1.0 (the ratio is the median of the per-round ratios)")
    print(f"# sizes: unified-run from the {SIZE_BUILD}")
    print_table(["executable or library (stripped)", "bytes", "KiB"],
                [[k, f"{v:,}", f"{v / 1024:.1f}"] for k, v in sizes.items()])
    print("# compact GEMM (build_runtime(compact_gemm=True), opt-in): a plain-loop matrix product"
          " instead of Eigen's;")
    print("#   its sums may differ from training's in the last bits (the default keeps Eigen's:")
    print("#   the same bits as unified._core on the same ISA)")
    print("# target: the trimmed runtime for the digits CNN <= 150 KB (150,000 bytes)")


if __name__ == "__main__":
    main()
