"""The demo's one summary table: rows are the figures, columns the ways the model ran
(deploy.Column). A cell a row does not apply to stays blank; a column that could not run is
left out and its reason printed under the table. Renders as aligned text and as Markdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unified.demo.deploy import Column


def _fmt_acc(v: float) -> str:
    return f"{v * 100:.2f} %"


ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("test accuracy", "accuracy", _fmt_acc),
    ("train step ms", "train_step_ms", lambda v: f"{v:.2f}"),
    ("peak memory", "memory", str),
    ("batch-1 latency", "latency_us", lambda v: f"{v:,.1f} µs"),
    ("max abs diff vs eager", "max_abs_diff", lambda v: f"{v:.2g}"),
    ("file / binary size", "size", str),
]


def cells(columns: list[Column]) -> list[list[str]]:
    """The table as strings: a header row, then one row per figure."""
    table = [[""] + [c.name for c in columns]]
    for label, field, fmt in ROWS:
        values = [getattr(c, field) for c in columns]
        table.append([label] + ["" if v is None else fmt(v) for v in values])
    return table


def markdown(columns: list[Column], notes: list[str]) -> str:
    rows = cells(columns)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def text(columns: list[Column], notes: list[str]) -> str:
    rows = cells(columns)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out + notes)
