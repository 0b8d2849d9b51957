"""A memory plan drawn as a timeline: `plot(plan, path)` writes a PNG where each arena buffer is
a rectangle spanning its lifetime (steps, x) and its place in the arena (offset, y), so reuse
shows as rectangles stacked at the same height one after another and in-place reuse as one
band that changes colour. `Traced.plot_memory(path)` calls it on a traced function's plan.

matplotlib is optional: it is imported only here, without pyplot (a Figure and the Agg canvas,
so no global backend or state changes), and a missing matplotlib raises an ImportError that
says `pip install matplotlib`."""

from __future__ import annotations

import os

from unified.tracer.passes.memory_plan import MemoryPlan


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_memory needs matplotlib, which is optional for unified: "
                          "pip install matplotlib") from exc
    return Figure, FigureCanvasAgg


def _unit(nbytes: int) -> tuple[float, str]:
    for scale, name in ((2**20, "MiB"), (2**10, "KiB")):
        if nbytes >= 4 * scale:
            return float(scale), name
    return 1.0, "bytes"


def plot(plan: MemoryPlan, path: str | os.PathLike) -> str:
    """Write the timeline of `plan`'s arena buffers to `path` (PNG); returns the path."""
    Figure, Canvas = _matplotlib()
    fig = Figure(figsize=(10, 5), dpi=100)
    Canvas(fig)
    ax = fig.add_subplot(1, 1, 1)
    scale, unit = _unit(plan.arena_bytes)
    colours = ["#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0"]
    for i, (ref, offset) in enumerate(sorted(plan.offsets.items(), key=lambda kv: kv[1])):
        first, last = plan.lifetimes[ref]
        size = plan.sizes[ref]
        if not size:
            continue
        ax.add_patch(_rect(first - 0.5, offset / scale, last - first + 1, size / scale,
                           colours[i % len(colours)]))
        if last - first >= 2 and size / max(plan.arena_bytes, 1) > 0.03:
            ax.text((first + last) / 2, (offset + size / 2) / scale, str(ref), ha="center",
                    va="center", fontsize=7)
    ax.set_xlim(-0.5, plan.num_steps + 0.5)
    ax.set_ylim(0, max(plan.arena_bytes, 1) / scale)
    ax.set_xlabel(f"step (0..{plan.num_steps - 1}; {plan.num_steps} = end)")
    ax.set_ylabel(f"arena offset ({unit})")
    outside = len(plan.homes)
    ax.set_title(f"memory plan of {plan.graph.name}: arena {plan.arena_bytes:,} bytes for "
                 f"{len(plan.offsets)} buffers of {plan.buffers_bytes:,} bytes; "
                 f"{len(plan.reuses)} in place; {outside} in outputs/params", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png")
    return os.fspath(path)


def _rect(x: float, y: float, w: float, h: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="black", linewidth=0.4,
                     alpha=0.85)
