"""The `unified demo` and `unified bench` subcommands, registered by unified/cli.py through
`add_parser(subparsers)`. This module only declares the options; the work is imported when a
subcommand runs (run.py: the demo; bench.py: a bundle's latency; train.py, deploy.py,
table.py, report.py: the demo's parts)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register `demo` and `bench` on cli.py's subparsers (handlers return exit codes)."""
    demo = subparsers.add_parser(
        "demo", help="train, trace, export and deploy the digits model; one summary table",
        description="Train a small model on the embedded 8x8 digits (one epoch eager, the "
        "rest traced), export it with its pre- and post-processing to ONNX and to a bundle, "
        "build the trimmed C++ runtime, run it in every mode, check that the outputs agree "
        "and print one table. Writes a report folder (table, plots, graph, files).")
    demo.add_argument("--epochs", type=int, default=None,
                      help="training epochs, the first eager (default 10; --quick: 2)")
    demo.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    demo.add_argument("--quick", action="store_true",
                      help="a smoke test: fewer samples, 2 epochs, 20 timing runs")
    demo.add_argument("--out", default="unified-demo",
                      help="report folder (default ./unified-demo/)")
    demo.add_argument("--threads", type=int, default=1,
                      help="kernel threads for every step: training, the latencies, the "
                      "runtime and onnxruntime (default 1)")
    demo.add_argument("--no-runtime", action="store_true",
                      help="do not build the C++ runtime (its column is left out)")
    demo.add_argument("--runtime-dir", default=None,
                      help="where to build the runtime (default OUT/runtime; kept, so a "
                      "second build is incremental)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(handler=_demo)

    bench = subparsers.add_parser(
        "bench", help="latency of a .ufb bundle from Python (as unified-run measures it)",
        description="Load a bundle, run it on random inputs (or --input .npy files) and "
        "print min/median/max µs per run; --verify runs its stored reference pairs.")
    bench.add_argument("bundle", help="a .ufb bundle (export.save_bundle)")
    bench.add_argument("--iters", type=int, default=200, help="timed runs (default 200)")
    bench.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    bench.add_argument("--threads", type=int, default=1, help="kernel threads (default 1)")
    bench.add_argument("--input", action="append", default=[], metavar="X.npy",
                       help="input k from a .npy file (one per input, in order); default: "
                       "random values from --seed")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--verify", action="store_true",
                       help="run the bundle's reference pairs; exit 1 on a mismatch")
    bench.set_defaults(handler=_bench)


def _demo(args: argparse.Namespace) -> int:
    from unified.demo.run import run

    return run(args)


def _bench(args: argparse.Namespace) -> int:
    from unified.demo.bench import run

    return run(args)
