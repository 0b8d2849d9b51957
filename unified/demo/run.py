"""`unified demo`: the whole promise in one command (the steps, in order):
 1. train the digits model eagerly for one epoch, then traced (train.py);
 2. save the checkpoint; export the inference function with pre- and post-processing to ONNX
    and to a bundle (deploy.py);
 3. run it eagerly, traced, in the trimmed C++ runtime and in onnxruntime, and check every
    output against eager (max abs diff <= TOLERANCE, same top-1 accuracy);
 4. print one table, write it to summary.md with the plots and the graph (report.py).
A column that cannot run (no compiler, no onnxruntime) is left out with a one-line reason.
Exit status 1 when an output disagrees with eager."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any

from unified._atomic import atomic_write
from unified.demo import deploy, report, table, train

TOLERANCE = 1e-5
MEMORY_NOTE = ("peak memory: eager = tensor data one training step holds at once beyond the "
               "model's state; traced = that step's planned arena plus its inputs/outputs "
               "(Traced.memory_report()); runtime = inference arena plus weights")
DIFF_NOTE = ("max abs diff: the exported graphs fold BatchNorm into the layer before it, so "
             "they round differently from eager; the runtime computes what the bundle computes "
             "through unified._core, bit for bit")


@dataclasses.dataclass
class Summary:
    columns: list[deploy.Column]
    notes: list[str]  # left-out columns and skipped files, one line each
    failures: list[str]  # disagreements with eager, one line each
    out: str


def run(args: argparse.Namespace) -> int:
    """The `unified demo` handler: prints the table; 1 when an output disagrees."""
    summary = demo(args)
    print(table.text(summary.columns, summary.notes))
    for line in summary.failures:
        print(f"unified demo: {line}", file=sys.stderr)
    return 1 if summary.failures else 0


def demo(args: argparse.Namespace) -> Summary:
    """Steps 1-4 of the module doc, without printing the table; every step runs with
    args.threads kernel threads (the previous setting is restored)."""
    import unified as U

    if args.threads < 1:
        raise ValueError(f"demo: --threads must be >= 1, got {args.threads}")
    previous = U.get_num_threads()
    U.set_num_threads(args.threads)
    try:
        return _demo(args)
    finally:
        U.set_num_threads(previous)


def _demo(args: argparse.Namespace) -> Summary:
    import unified as U

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    iters, warmup = (20, 3) if args.quick else (200, 10)
    data = train.load_data(args.quick)
    epochs = args.epochs if args.epochs is not None else (2 if args.quick else 10)
    _say(f"unified demo: {args.model} on the embedded 8x8 digits ({len(data.train_u8)} train, "
         f"{len(data.test_u8)} test), {epochs} epochs (1 eager, {epochs - 1} traced)")
    trained = train.train(data, args.model, epochs, progress=not args.no_progress)
    trained.model.eval()
    ckpt = os.path.join(out, "model.ufc")
    U.save(trained.model.state_dict(), ckpt)
    mem = trained.traced_step.memory_report()
    infer = deploy.make_infer(trained.model, data.mean, data.std)
    eager = deploy.eager_column(infer, data.test_u8, data.test_labels, iters, warmup)
    traced = deploy.traced_column(infer, data.test_u8, data.test_labels, iters, warmup)
    eager.train_step_ms, traced.train_step_ms = trained.eager_step_ms, trained.traced_step_ms
    eager.memory = _mem(mem.eager_peak_bytes, "step peak")
    traced.memory = _mem(mem.arena_bytes + mem.io_bytes, "arena + I/O")
    eager.size = f"{deploy.kib(os.path.getsize(ckpt))} model.ufc"
    paths = deploy.export_files(infer, data.test_u8, out)
    columns, notes = [eager, traced], [MEMORY_NOTE, DIFF_NOTE]
    runtime_dir = args.runtime_dir or os.path.join(out, "runtime")
    optional = [("runtime", args.no_runtime and "skipped (--no-runtime)",
                 lambda: deploy.runtime_column(paths, data.test_u8, data.test_labels,
                                               runtime_dir, args.threads, iters, warmup)),
                ("ONNX", None, lambda: deploy.onnx_column(paths["onnx"], data.test_u8,
                                                          data.test_labels, args.threads,
                                                          iters, warmup))]
    for what, skipped, make in optional:
        column, reason = _optional(make, skipped)
        if column is None:
            notes.append(f"{what}: {reason}")
        else:
            columns.append(column)
            notes += [column.note] if column.note else []
    failures = _agreement(columns, eager)
    notes += report.write(out, trained.losses, trained.eager_steps, trained.traced_step)
    notes += report.write_summary_png(out, table.cells(columns), notes + failures,
                                      trained.losses, trained.eager_steps)
    notes.append(f"report: {out} (summary.md and .png, loss, memory timeline, graph, exported "
                 "files)")
    with atomic_write(os.path.join(out, "summary.md")) as f:
        f.write(table.markdown(columns, notes + failures).encode())
    return Summary(columns, notes, failures, out)


def _optional(make: Callable[[], deploy.Column], skipped: str | None
              ) -> tuple[deploy.Column | None, str | None]:
    """The column, or None and a one-line reason (a missing module, a failed build)."""
    if skipped:
        return None, skipped
    try:
        return make(), None
    except ImportError as exc:
        return None, f"not available ({exc.name or exc} is not installed)"
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()
        return None, f"{type(exc).__name__}: {first[0] if first else 'failed'}"


def _agreement(columns: list[deploy.Column], eager: deploy.Column) -> list[str]:
    """Fill each column's max abs diff vs eager; one line per disagreement."""
    failures = []
    for c in columns[1:]:
        c.max_abs_diff = deploy.max_abs_diff(c.outputs, eager.outputs)
        if c.max_abs_diff > TOLERANCE or c.accuracy != eager.accuracy:
            failures.append(f"{c.name} disagrees with eager: max abs diff {c.max_abs_diff:.3g} "
                            f"(tolerance {TOLERANCE}), accuracy {c.accuracy:.4f} vs "
                            f"{eager.accuracy:.4f}")
    return failures


def _mem(nbytes: int | None, what: str) -> str | None:
    return None if nbytes is None else f"{deploy.kib(nbytes)} {what}"


def _say(line: str) -> None:
    print(line, flush=True)


def namespace(**overrides: Any) -> argparse.Namespace:
    """The demo's defaults as a Namespace (for calling run() from Python)."""
    values = dict(epochs=None, model="cnn", quick=False, out="unified-demo", threads=1,
                  no_runtime=False, runtime_dir=None, no_progress=False)
    values.update(overrides)
    return argparse.Namespace(**values)
