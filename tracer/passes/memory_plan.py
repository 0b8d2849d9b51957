"""Static memory planning: where every tensor of a graph lives during a replay, so a replay
allocates nothing. `plan(graph) -> MemoryPlan`; tracer/lower.py reads it to build the _core
plan, `MemoryPlan.report()` prints it.

Algorithm:
 1. Number the call nodes 0..n-1 in graph order (a node's *step*); step n (END) is where
    the executable copies values out (outputs and writes that do not live in place).
 2. Layouts. Input, param and const refs own their storage. Each output of a kernel call
    owns a buffer. A view op (Trait.VIEW) applies its own `view` function to a dummy
    strided array (no data) laid out as its input: when that gives a view, the ref aliases
    its input's storage at the view's byte offset and strides; when it gives None (needs a
    copy), the ref owns a buffer holding a contiguous copy of the input (lower.py adds a
    `cast` step) and is that copy's view.
 3. Homes. A graph output with its own buffer lives in the caller's output array k, which
    the executable allocates fresh per call (outputs are handed to the user and outlive the
    call, so they cannot share the arena). A written value with its own kernel-made buffer
    lives straight in its param's array when nothing reads the param's storage (or a view
    of it) after the writing step; at the writing step itself only as input 0 of an
    elementwise INPLACE_OK op (the in-place contract of eager `apply_inplace`), or as the
    input an update op's output replaces (OpDef.writes_inputs, eager's `apply_update`), read
    by no other input of that step. Every other buffer goes in the arena.
 4. Lifetimes. A buffer lives from its step to the last step reading it or any view of it
    (views extend their base's lifetime); values copied out at the end are read at END.
 5. In place (the hint of tracer/passes/inplace.py, node.meta["inplace"] = 0): output 0 of
    the node shares input 0's arena buffer when both are arena buffers with their own plain
    layout (offset 0, contiguous, no copy), of the same size, and the input's lifetime ends
    at that node; the shared buffer lives from the input's first step to the output's last.
    A hint failing any of these is ignored (the output gets its own buffer).
 6. Greedy by size. Arena buffers (one per group of in-place sharers), sorted by size
    descending (then first step, then node), each go at the lowest 64-byte aligned offset
    where they overlap no placed buffer whose lifetime overlaps theirs. arena_bytes is the
    highest end.

Limits: greedy-by-size is a heuristic (not the minimum arena); a write whose source is a
view of another param written earlier at END reads the new value (swaps are not planned).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from unified.tracer.graph import Graph, Node, Ref, fmt_meta

from unified.ops.registry import Trait

ALIGN = 64


class Layout(NamedTuple):
    """Where a ref's elements are: inside the storage owned by `base`, from `byte_offset`."""

    base: Ref
    byte_offset: int
    strides: tuple[int, ...]  # in elements


@dataclasses.dataclass
class MemoryPlan:
    """The result of `plan`. offsets: arena byte offset of each arena buffer; homes: buffers
    living in external arrays, ("output", k) or ("param", k) with k an index into
    graph.params(); copies: view refs that need a copy step; lifetimes in steps (END =
    num_steps)."""

    graph: Graph
    arena_bytes: int
    offsets: dict[Ref, int]
    sizes: dict[Ref, int]
    lifetimes: dict[Ref, tuple[int, int]]
    layouts: dict[Ref, Layout]
    homes: dict[Ref, tuple[str, int]]
    copies: frozenset[Ref]
    num_steps: int
    reuses: dict[Ref, Ref] = dataclasses.field(default_factory=dict)  # output -> input buffer

    @property
    def buffers_bytes(self) -> int:
        """Sum of the arena buffers' sizes (what the arena would be without reuse)."""
        return sum(self.sizes[r] for r in self.offsets)

    def report(self) -> str:
        """A readable table: arena vs the sum of its buffers, then one line per tensor."""
        total = self.buffers_bytes
        share = f" ({100 * self.arena_bytes / total:.0f}%)" if total else ""
        head = (f"memory plan for {self.graph.name}: arena {self.arena_bytes:,} bytes for "
                f"{len(self.offsets)} buffers of {total:,} bytes{share}")
        rows = [self._line(ref) for ref in _refs(self.graph) if ref.node.kind == "call"]
        return "\n".join([head, *rows])

    def _line(self, ref: Ref) -> str:
        layout = self.layouts[ref]
        where = ""
        if layout.base != ref:
            where = f"view of {layout.base} +{layout.byte_offset}"
        elif ref in self.offsets:
            start = self.offsets[ref]
            where = f"@ arena[{start}:{start + self.sizes[ref]}]"
        elif ref in self.homes:
            kind, k = self.homes[ref]
            name = str(k) if kind == "output" else f"%{self.graph.params()[k].name}"
            where = f"-> {kind} {name}"
        life = self.lifetimes.get(ref)
        when = "" if life is None else f"steps {life[0]}..{_step_name(life[1], self.num_steps)}"
        copy = " (copy)" if ref in self.copies else ""
        if ref in self.reuses:
            copy += f" (in place of {self.reuses[ref]})"
        return f"  {ref!s:<8} {where + copy:<32} {fmt_meta(ref.meta):<18} {when}".rstrip()


def _step_name(step: int, num_steps: int) -> str:
    return "end" if step == num_steps else str(step)


def _refs(graph: Graph) -> list[Ref]:
    return [Ref(n, i) for n in graph.nodes for i in range(len(n.metas))]


def nbytes(ref: Ref) -> int:
    meta = ref.meta
    return math.prod(meta.shape) * np.dtype(meta.dtype).itemsize


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= max(int(dim), 1)
    return tuple(reversed(strides))


def _view_layout(node: Node, base: Layout) -> tuple[int, tuple[int, ...]] | None:
    """(byte offset from the input's start, strides) of a view op applied to an input laid out
    with base.strides, computed by the op's own `view` on a data-less strided dummy; None when
    the op needs a copy."""
    meta = node.inputs[0].meta
    item = np.dtype(meta.dtype).itemsize
    dummy = np.lib.stride_tricks.as_strided(
        np.empty(1, dtype=meta.dtype), shape=tuple(meta.shape),
        strides=tuple(s * item for s in base.strides))
    out = node.op.view(dummy, **node.attrs) if node.attrs else node.op.view(dummy)
    if out is None:
        return None
    want = node.metas[0]
    if tuple(out.shape) != tuple(want.shape) or out.dtype != np.dtype(want.dtype):
        raise ValueError(f"memory plan: view {node.op.name} of {node.inputs[0]} gave "
                         f"{out.dtype}{tuple(out.shape)} but the graph stores {fmt_meta(want)}"
                         f" (traced at {node.source})")
    offset = out.__array_interface__["data"][0] - dummy.__array_interface__["data"][0]
    return offset, tuple(s // item for s in out.strides)


def layouts(graph: Graph) -> tuple[dict[Ref, Layout], frozenset[Ref]]:
    """Step 2: every ref's Layout, and the view refs that need a copy."""
    result: dict[Ref, Layout] = {}
    copies = set()
    for node in graph.nodes:
        if node.kind == "output":
            continue
        if node.kind != "call" or Trait.VIEW not in node.op.traits:
            for i, meta in enumerate(node.metas):
                result[Ref(node, i)] = Layout(Ref(node, i), 0, contiguous_strides(meta.shape))
            continue
        ref, src = Ref(node, 0), result[node.inputs[0]]
        found = _view_layout(node, src)
        if found is None:  # a contiguous copy of the input, viewed
            copies.add(ref)
            dense = contiguous_strides(node.inputs[0].meta.shape)
            found = _view_layout(node, Layout(ref, 0, dense))
            if found is None:
                raise ValueError(f"memory plan: view {node.op.name} of {node.inputs[0]} needs a "
                                 f"copy even of a contiguous input (traced at {node.source})")
            result[ref] = Layout(ref, found[0], found[1])
        else:
            result[ref] = Layout(src.base, src.byte_offset + found[0], found[1])
    return result, frozenset(copies)


def _steps(graph: Graph) -> dict[Node, int]:
    return {node: i for i, node in enumerate(graph.calls())}


def _last_reads(graph: Graph, lay: dict[Ref, Layout], steps: dict[Node, int],
                end_reads: list[Ref]) -> dict[Ref, int]:
    """The last step reading each storage (by its owning ref), through any view."""
    last: dict[Ref, int] = {}
    for node, step in steps.items():
        for ref in node.inputs:
            base = lay[ref].base
            last[base] = max(last.get(base, -1), step)
    for ref in end_reads:
        last[lay[ref].base] = len(steps)
    return last


def _owns_buffer(ref: Ref, lay: dict[Ref, Layout]) -> bool:
    return ref.node.kind == "call" and lay[ref].base == ref


def homes(graph: Graph, lay: dict[Ref, Layout], copies: frozenset[Ref],
          steps: dict[Node, int]) -> dict[Ref, tuple[str, int]]:
    """Step 3: buffers that live in the caller's output arrays or straight in a param."""
    result: dict[Ref, tuple[str, int]] = {}
    for k, ref in enumerate(graph.outputs):
        if _owns_buffer(ref, lay) and ref not in result:
            result[ref] = ("output", k)
    end = [r for r in graph.outputs if r not in result] + [r for _, r in graph.writes]
    last = _last_reads(graph, lay, steps, end)
    params = graph.params()
    homed_params = set()
    for param, ref in graph.writes:
        if (not _owns_buffer(ref, lay) or ref in copies or ref in result
                or param in homed_params or ref.meta != param.metas[0]):
            continue
        step = steps[ref.node]
        read = last.get(Ref(param), -1)
        if read < step or (read == step and _writes_over_input(ref, Ref(param), lay)):
            result[ref] = ("param", params.index(param))
            homed_params.add(param)
    return result


def _writes_over_input(ref: Ref, param: Ref, lay: dict[Ref, Layout]) -> bool:
    """The op may write output `ref` over one of its inputs (input 0 of an elementwise
    INPLACE_OK op; input writes_inputs[k] for output k of an update op), that input is the
    whole param, and no other input reads the param's storage."""
    node = ref.node
    traits = node.op.traits
    updates = getattr(node.op, "writes_inputs", ())
    if ref.index < len(updates):
        slot = updates[ref.index]
    elif Trait.ELEMENTWISE in traits and Trait.INPLACE_OK in traits and ref.index == 0:
        slot = 0
    else:
        return False
    return (node.inputs[slot] == param
            and not any(lay[r].base == param for i, r in enumerate(node.inputs) if i != slot))


def lifetimes(graph: Graph, lay: dict[Ref, Layout], home: dict[Ref, tuple[str, int]],
              steps: dict[Node, int]) -> dict[Ref, tuple[int, int]]:
    """Step 4: (first, last) step of every buffer-owning call ref."""
    end = [r for k, r in enumerate(graph.outputs) if home.get(r) != ("output", k)]
    end += [r for p, r in graph.writes if home.get(r) != ("param", graph.params().index(p))]
    last = _last_reads(graph, lay, steps, end)
    result = {}
    for ref in lay:
        if _owns_buffer(ref, lay):
            first = steps[ref.node]
            result[ref] = (first, max(first, last.get(ref, first)))
    return result


def _aligned(size: int) -> int:
    return (size + ALIGN - 1) // ALIGN * ALIGN


def reuses(graph: Graph, lay: dict[Ref, Layout], copies: frozenset[Ref],
           home: dict[Ref, tuple[str, int]], lives: dict[Ref, tuple[int, int]],
           steps: dict[Node, int]) -> dict[Ref, Ref]:
    """Step 5: {output: input} for each honoured in-place hint."""
    result: dict[Ref, Ref] = {}
    for node, step in steps.items():
        if node.meta.get("inplace") != 0 or not node.inputs:
            continue
        dst, src = Ref(node, 0), node.inputs[0]
        if all(_plain(r, lay, copies, home, lives) for r in (dst, src)) and (
                nbytes(dst) == nbytes(src) and lives[src][1] == step):
            result[dst] = src
    return result


def _plain(ref: Ref, lay: dict[Ref, Layout], copies: frozenset[Ref],
           home: dict[Ref, tuple[str, int]], lives: dict[Ref, tuple[int, int]]) -> bool:
    """An arena buffer owned by `ref`, laid out contiguously from its start."""
    layout = lay.get(ref)
    return (ref in lives and ref not in home and ref not in copies and layout is not None
            and layout.base == ref and layout.byte_offset == 0
            and layout.strides == contiguous_strides(ref.meta.shape))


def _groups(arena: dict[Ref, int], lives: dict[Ref, tuple[int, int]],
            reuse: dict[Ref, Ref]) -> tuple[dict[Ref, Ref], dict, dict]:
    """Steps 5-6: each arena ref's group root (its in-place chain's first buffer), and the
    roots' sizes and merged lifetimes."""
    root: dict[Ref, Ref] = {}
    sizes: dict[Ref, int] = {}
    spans: dict[Ref, tuple[int, int]] = {}
    for ref, size in arena.items():  # graph order: an input's group comes before its reuser
        r = root[reuse[ref]] if ref in reuse else ref
        root[ref] = r
        first, last = spans.get(r, lives[ref])
        spans[r] = (min(first, lives[ref][0]), max(last, lives[ref][1]))
        sizes[r] = max(sizes.get(r, 0), size)
    return root, sizes, spans


def place(sizes: dict, lives: dict) -> tuple[dict, int]:
    """Step 6: greedy by size. `sizes` and `lives` are keyed alike; ties keep `sizes`' order.
    Returns ({key: offset}, arena bytes)."""
    rank = {key: i for i, key in enumerate(sizes)}
    order = sorted(sizes, key=lambda k: (-sizes[k], lives[k][0], rank[k]))
    offsets: dict = {}
    for key in order:
        size, (first, last) = _aligned(sizes[key]), lives[key]
        if size == 0:
            offsets[key] = 0
            continue
        busy = sorted((offsets[o], offsets[o] + _aligned(sizes[o])) for o in offsets
                      if lives[o][0] <= last and first <= lives[o][1] and sizes[o])
        offset = 0
        for start, stop in busy:
            if offset + size <= start:
                break
            offset = max(offset, stop)
        offsets[key] = offset
    top = max((offsets[k] + _aligned(sizes[k]) for k in offsets), default=0)
    return offsets, top


def plan(graph: Graph) -> MemoryPlan:
    """Plan every tensor of `graph` (steps 1-6 above)."""
    steps = _steps(graph)
    lay, copies = layouts(graph)
    home = homes(graph, lay, copies, steps)
    lives = lifetimes(graph, lay, home, steps)
    sizes = {ref: (nbytes(ref.node.inputs[0]) if ref in copies else nbytes(ref)) for ref in lives}
    arena = {ref: sizes[ref] for ref in lives if ref not in home}
    reuse = reuses(graph, lay, copies, home, lives, steps)
    root, group_sizes, spans = _groups(arena, lives, reuse)
    placed, top = place(group_sizes, spans)
    offsets = {ref: placed[root[ref]] for ref in arena}
    return MemoryPlan(graph=graph, arena_bytes=top, offsets=offsets, sizes=sizes,
                      lifetimes=lives, layouts=lay, homes=home, copies=copies,
                      num_steps=len(steps), reuses=reuse)
