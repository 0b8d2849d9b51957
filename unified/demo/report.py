"""The demo's report folder besides the table and the exported files: the loss curve, the
traced training step's memory timeline and its graph drawing. matplotlib and Graphviz are
optional: without them the PNGs are skipped and a one-line note says so (the CSV of the
losses and the .dot source are always written). Returns the notes for the summary."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any


def write(out: str, losses: list[float], eager_steps: int, traced_step: Any) -> list[str]:
    notes = []
    with open(os.path.join(out, "loss.csv"), "w") as f:
        f.write("step,mode,loss\n")
        f.writelines(f"{k},{'eager' if k < eager_steps else 'traced'},{v:.6f}\n"
                     for k, v in enumerate(losses))
    dot_path = os.path.join(out, "train_step.dot")
    with open(dot_path, "w") as f:
        f.write(traced_step.graph.to_dot())
    try:
        _plot_losses(os.path.join(out, "loss.png"), losses, eager_steps)
        traced_step.plot_memory(os.path.join(out, "memory.png"))
    except ImportError:
        notes.append("plots: matplotlib is not installed (pip install matplotlib): loss.png "
                     "and memory.png skipped (loss.csv written)")
    dot = shutil.which("dot")
    if dot is None:
        notes.append("graph: Graphviz `dot` is not on PATH: train_step.png skipped "
                     "(train_step.dot written)")
    else:
        proc = subprocess.run([dot, "-Tpng", dot_path, "-o", os.path.join(out, "train_step.png")],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            notes.append(f"graph: dot failed ({proc.stderr.strip()[:200]}): train_step.png "
                         "skipped")
    return notes


def _plot_losses(path: str, losses: list[float], eager_steps: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    steps = range(len(losses))
    ax.plot(steps[:eager_steps], losses[:eager_steps], label="eager (epoch 1)")
    ax.plot(steps[eager_steps - 1:], losses[eager_steps - 1:], label="traced")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
