"""Traced.profile(): one replay of a traced function with the plan's step timeline on
(core_cpp/executor/plan.h `set_profiling`), as a Timeline of compute and communication.

 1. Every compiled variant of the call's signature gets `plan.profiling = True`; the call
    runs as usual (a replay: it trains one step); profiling is switched off again; the plan
    whose timeline changed is the one that ran.
 2. Steps are (kernel, label, start_ns, end_ns). A communication interval runs from the end of
    an `all_reduce_start` step to the end of the `all_reduce_wait` step that takes its token
    (matched through the node names in the step labels).
 3. Hidden time of an interval: the time compute steps (every step that is not a collective)
    ran inside it. hidden_fraction = hidden time / communication time, over all intervals.
    `wait_ns` is the time spent blocked in wait steps: the communication that was not hidden.
Limits: the timeline shows when MPI was asked to communicate, not when bytes moved; without
an MPI progress thread (MPIR_CVAR_ASYNC_PROGRESS=1, set by the launcher) a reduction may only
advance inside the wait, which the wait time then shows."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

_NAME = re.compile(r"^(%[\w.]+)")
_WAIT_TOKEN = re.compile(r"= all_reduce_wait (%[\w.]+)")
COLLECTIVES = frozenset({"all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier",
                         "all_reduce_start", "all_reduce_wait"})


class Step(NamedTuple):
    kernel: str
    label: str
    start_ns: int
    end_ns: int


class CommInterval(NamedTuple):
    start: int  # index of the all_reduce_start step
    wait: int  # index of its all_reduce_wait step
    start_ns: int  # end of the start step
    end_ns: int  # end of the wait step
    hidden_ns: int  # compute time inside [start_ns, end_ns]

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class Timeline:
    """The steps of one profiled replay and its communication intervals (see the module doc)."""

    def __init__(self, steps: list[Step], name: str = "fn") -> None:
        self.name = name
        self.steps = steps
        self.comm = _intervals(steps)
        self.total_ns = steps[-1].end_ns - steps[0].start_ns if steps else 0
        self.compute_ns = sum(s.end_ns - s.start_ns for s in steps
                              if s.kernel not in COLLECTIVES)
        self.comm_ns = sum(c.duration_ns for c in self.comm)
        self.hidden_ns = sum(c.hidden_ns for c in self.comm)
        self.wait_ns = sum(s.end_ns - s.start_ns for s in steps if s.kernel == "all_reduce_wait")

    @property
    def hidden_fraction(self) -> float | None:
        """Communication time overlapped by compute steps / communication time (None when
        the step has no asynchronous all-reduce)."""
        return self.hidden_ns / self.comm_ns if self.comm_ns else None

    def table(self) -> str:
        """A text summary: totals, then one line per communication interval."""
        ms = 1e-6
        frac = self.hidden_fraction
        lines = [f"trace({self.name}) profile: {len(self.steps)} steps, {self.total_ns * ms:.3f} "
                 f"ms; compute {self.compute_ns * ms:.3f} ms; communication "
                 f"{self.comm_ns * ms:.3f} ms in {len(self.comm)} all-reduces, "
                 f"{self.hidden_ns * ms:.3f} ms hidden behind compute "
                 f"({'n/a' if frac is None else f'{100 * frac:.0f}%'}), "
                 f"{self.wait_ns * ms:.3f} ms waiting",
                 f"{'start step':>10} {'wait step':>9} {'from ms':>9} {'to ms':>9} "
                 f"{'comm ms':>9} {'hidden':>7}  all_reduce_start"]
        t0 = self.steps[0].start_ns if self.steps else 0
        for c in self.comm:
            hidden = c.hidden_ns / c.duration_ns if c.duration_ns else 0.0
            label = self.steps[c.start].label.split(" (traced at")[0]
            lines.append(f"{c.start:>10} {c.wait:>9} {(c.start_ns - t0) * ms:>9.3f} "
                         f"{(c.end_ns - t0) * ms:>9.3f} {c.duration_ns * ms:>9.3f} "
                         f"{100 * hidden:>6.0f}%  {label}")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return self.table().splitlines()[0]

    def plot(self, path: Any) -> str:
        """Write a PNG: compute steps on one row, communication intervals on another (needs
        matplotlib: `pip install matplotlib`). Returns the path."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("Timeline.plot needs matplotlib (pip install matplotlib); "
                              "Timeline.table() gives the same figures as text") from exc
        t0 = self.steps[0].start_ns if self.steps else 0
        fig, ax = plt.subplots(figsize=(12, 2.5))
        compute = [((s.start_ns - t0) / 1e6, (s.end_ns - s.start_ns) / 1e6) for s in self.steps
                   if s.kernel not in COLLECTIVES]
        comm = [((c.start_ns - t0) / 1e6, c.duration_ns / 1e6) for c in self.comm]
        waits = [((s.start_ns - t0) / 1e6, (s.end_ns - s.start_ns) / 1e6) for s in self.steps
                 if s.kernel == "all_reduce_wait"]
        ax.broken_barh(compute, (10, 8), facecolors="tab:blue")
        ax.broken_barh(comm, (0, 8), facecolors="tab:orange", alpha=0.6)
        ax.broken_barh(waits, (0, 8), facecolors="tab:red")
        ax.set_yticks([4, 14], labels=["all-reduce (red: waiting)", "compute"])
        ax.set_xlabel("ms since the step began")
        ax.set_title(repr(self))
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return str(path)


def _intervals(steps: list[Step]) -> list[CommInterval]:
    """Step 2-3: each start matched with its wait, with the compute time inside."""
    starts: dict[str, int] = {}
    intervals = []
    for i, s in enumerate(steps):
        if s.kernel == "all_reduce_start":
            m = _NAME.match(s.label)
            if m:
                starts[m.group(1)] = i
        elif s.kernel == "all_reduce_wait":
            m = _WAIT_TOKEN.search(s.label)
            j = starts.pop(m.group(1), None) if m else None
            if j is not None:
                lo, hi = steps[j].end_ns, s.end_ns
                hidden = sum(max(0, min(c.end_ns, hi) - max(c.start_ns, lo))
                             for c in steps[j + 1:i] if c.kernel not in COLLECTIVES)
                intervals.append(CommInterval(j, i, lo, hi, hidden))
    return intervals


def run(traced: Any, args: tuple, kwargs: dict) -> Timeline:
    """Step 1: one profiled call of `traced` (a tracer.trace.Traced)."""
    from unified.tracer import replay

    key = traced._key(args, kwargs)[0]
    entry = traced._cache.get(key)
    if entry is None or not entry.variants:
        raise RuntimeError(f"trace({traced.__name__}).profile: no compiled graph for these "
                           "arguments yet (a traced function replays from its third call with "
                           "the same signature); call it a few times first")
    plans = []
    for rec in entry.variants:
        runner = replay.compiled(rec, traced.backend, traced.__name__)
        if isinstance(runner, replay.PlanReplay):
            plans.append(runner.exe.plan)
    if not plans:
        raise RuntimeError(f"trace({traced.__name__}).profile: the graph runs in the "
                           "interpreter (backend='interpret' or it could not be lowered), "
                           "which has no step timeline")
    before = [p.timeline() for p in plans]
    for p in plans:
        p.profiling = True
    try:
        traced(*args, **kwargs)
    finally:
        for p in plans:
            p.profiling = False
    for plan, old in zip(plans, before):
        now = plan.timeline()
        if now and now != old:
            return Timeline([Step(*s) for s in now], traced.__name__)
    raise RuntimeError(f"trace({traced.__name__}).profile: the call did not replay a compiled "
                       "graph (a guard failed or it was re-recorded); call it again")
