"""The demo's report folder besides the exported files: the loss curve, the traced training
step's memory timeline, its graph drawing, and summary.png (the summary table drawn above the
loss curve: the one picture to look at). matplotlib and Graphviz are optional: without them the
PNGs are skipped and a one-line note says so (the CSV of the losses, the .dot source and
summary.md are always written). Each writer returns the notes for the summary."""

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


def write_summary_png(out: str, cells: list[list[str]], notes: list[str], losses: list[float],
                      eager_steps: int) -> list[str]:
    """summary.png: the table (`cells`: header row first, as table.cells gives it) with its
    notes, above the loss curve. Returns a note when matplotlib is missing."""
    try:
        _draw_summary(out, cells, notes, losses, eager_steps)
    except ImportError:  # matplotlib (or a part it loads lazily while drawing) is missing
        return ["summary.png: matplotlib is not installed (pip install matplotlib): skipped"]
    return []


def _draw_summary(out: str, cells: list[list[str]], notes: list[str], losses: list[float],
                  eager_steps: int) -> None:
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure


    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    top = fig.add_axes((0.02, 0.40, 0.96, 0.56))
    top.axis("off")
    top.set_title("unified demo: one model, trained eagerly and traced, deployed two ways",
                  loc="left", fontsize=12)
    longest = [max(len(row[i]) for row in cells) + 6 for i in range(len(cells[0]))]
    widths = [n / sum(longest) for n in longest]  # each column as wide as its longest cell
    grid = top.table(cellText=cells[1:], colLabels=cells[0], colWidths=widths,
                     bbox=(0.0, 0.36, 1.0, 0.64), cellLoc="right")
    grid.auto_set_font_size(False)
    grid.set_fontsize(10)
    for (row, col), cell in grid.get_celld().items():
        if row == 0 or col == 0:
            cell.set_text_props(weight="bold")
        if col == 0:
            cell.set_text_props(ha="left")
    lines = [w for n in notes[:5] for w in textwrap.wrap(n, 150)][:9]
    top.text(0.0, 0.32, "\n".join(lines), transform=top.transAxes, fontsize=8, va="top",
             family="monospace")
    ax = fig.add_axes((0.08, 0.07, 0.88, 0.30))
    steps = range(len(losses))
    ax.plot(steps[:eager_steps], losses[:eager_steps], label="eager (epoch 1)")
    ax.plot(steps[eager_steps - 1:], losses[eager_steps - 1:], label="traced")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    fig.savefig(os.path.join(out, "summary.png"), format="png")
