"""Elementwise fusion: replace each group of fusable float32 elementwise calls by one
`fused_elementwise` call (unified/ops/fused.py) that runs the group as a register program in
one pass over memory (core_cpp/kernels/fused.cpp).

Algorithm:
  1. A call node is fusable when its OpDef has `fuse_params` (not None) and Trait.ELEMENTWISE,
     its one output is float32, and each input is float32 with the output's shape or 0-d.
  2. Walk the nodes in reverse order. A fusable node joins the group of its users when all of
     its users are in one group, that group's output has its shape, its value is not a graph
     output or write, and the group stays within MAX_INPUTS external inputs and MAX_OPS
     members; otherwise it starts a new group (as that group's output). Users come after a
     node, so their groups are final when it is visited: one walk suffices, and a group is
     convex (only its output is read outside it).
  3. Each group of >= 2 members becomes a program: its external inputs (deduplicated, in
     order of first read) are registers 0..k-1; each member in graph order is one instruction
     whose dst is the lowest free register (taken before the registers of values it reads last
     are freed, so dst never equals a source). A group needing more than MAX_REGS registers
     stays unfused.
  4. The fused call is placed at the group output's position, takes its uses and its source,
     and records the fused op names in `meta["fused"]`; the members are removed.

Each instruction calls the same ew:: function as the unfused kernel, one op at a time, so the
results are bit-identical. Limits: no broadcasting inside a group other than 0-d inputs;
multi-output ops, int/bool ops (comparisons, where, cast, sign) and reductions end a group; a
value read both inside and outside the group is not fused (no recomputation); groups are
greedy from the output backwards, not optimal partitions."""

from __future__ import annotations

import math

import numpy as np
from unified.tracer.graph import Graph, Node, Ref

from unified.ops.fused import fused_elementwise
from unified.ops.registry import OpDef, Trait, lookup

MAX_INPUTS = 16  # operands of one kernel call (core_cpp/python/module.cpp kMaxOperands)
MAX_REGS = 32  # registers of one program (core_cpp/kernels/fused.cpp kMaxRegs)
MAX_OPS = 64
_F32 = np.dtype(np.float32)


def run(graph: Graph) -> Graph:
    """A copy of `graph` with every fusable group of >= 2 calls as one fused_elementwise call."""
    out = graph.copy()
    for members in _groups(out):
        program = build_program(members)
        if program is not None:
            _replace(out, members, *program)
    return out


def fuse_values(op: OpDef, attrs: dict) -> tuple[float, float]:
    """p0, p1 of the op's ew:: function from the node's attrs (op defaults filled in)."""
    values = []
    for entry in op.fuse_params:
        name, mapping = entry if isinstance(entry, tuple) else (entry, None)
        value = attrs.get(name, op.attrs.get(name))
        value = mapping[value] if mapping is not None else value
        values.append(math.nan if value is None else float(value))
    return tuple(values + [0.0] * (2 - len(values)))


def fusable(node: Node) -> bool:
    """Step 1."""
    op = node.op
    if node.kind != "call" or op.fuse_params is None or Trait.ELEMENTWISE not in op.traits:
        return False
    if len(node.metas) != 1 or node.metas[0].dtype != _F32 or len(node.inputs) not in (1, 2):
        return False
    shape = tuple(node.metas[0].shape)
    if any(r.meta.dtype != _F32 or tuple(r.meta.shape) not in (shape, ()) for r in node.inputs):
        return False
    try:
        fuse_values(op, node.attrs)
    except (KeyError, TypeError, ValueError):  # an attr value the engine has no number for
        return False
    return True


def _groups(graph: Graph) -> list[list[Node]]:
    """Step 2: groups of fusable nodes, each in graph order (the last one is its output)."""
    live = graph.live_refs()
    group_of: dict[int, list[Node]] = {}
    groups: list[list[Node]] = []
    for node in reversed(graph.nodes):
        if not fusable(node):
            continue
        users = {id(u): u for u in node.users}
        target = group_of.get(id(node.users[0])) if node.users else None
        if (target is not None and Ref(node) not in live
                and all(group_of.get(k) is target for k in users)
                and target[0].metas[0].shape == node.metas[0].shape
                and len(target) < MAX_OPS
                and len(_externals(target + [node])) <= MAX_INPUTS):
            target.append(node)
        else:
            target = [node]
            groups.append(target)
        group_of[id(node)] = target
    return [g[::-1] for g in groups if len(g) >= 2]


def _externals(members: list[Node]) -> list[Ref]:
    """Refs the members read that no member computes, in order of first read."""
    inside = {id(m) for m in members}
    seen: dict[Ref, None] = {}
    for m in members:
        for r in m.inputs:
            if id(r.node) not in inside:
                seen.setdefault(r)
    return list(seen)


def build_program(members: list[Node]) -> tuple[list[Ref], dict] | None:
    """Step 3: (external inputs, attrs of fused_elementwise), or None past MAX_REGS.
    `members` are in graph order."""
    externals = _externals(members)
    outside = set(externals)
    reg: dict[Ref, int] = {r: k for k, r in enumerate(externals)}
    last_read = {}
    for k, m in enumerate(members):
        for r in m.inputs:
            last_read[r] = k
    free: list[int] = []
    num_regs = len(externals)
    regs: list[int] = []
    params: list[float] = []
    for k, m in enumerate(members):
        sources = [reg[r] for r in m.inputs]
        if free:
            dst = min(free)
            free.remove(dst)
        else:
            dst, num_regs = num_regs, num_regs + 1
        for r in dict.fromkeys(m.inputs):
            if r not in outside and last_read[r] == k:
                free.append(reg[r])
        reg[Ref(m)] = dst
        regs += [dst, sources[0], sources[1] if len(sources) > 1 else -1]
        params += fuse_values(m.op, m.attrs)
    if num_regs > MAX_REGS:
        return None
    attrs = {"ops": " ".join(m.op.name for m in members), "regs": tuple(regs),
             "params": tuple(params), "num_regs": num_regs}
    return externals, attrs


def _replace(graph: Graph, members: list[Node], externals: list[Ref], attrs: dict) -> None:
    """Step 4."""
    root = members[-1]
    fused = graph.add_call(fused_elementwise, tuple(externals), attrs, metas=root.metas,
                           source=root.source)
    graph.nodes.pop()
    graph.nodes.insert(graph.nodes.index(root), fused)
    fused.meta["fused"] = [m.op.name for m in members]
    graph.replace_uses(root.ref(), fused.ref())
    for m in reversed(members):
        graph.remove(m)


def program_text(node: Node) -> list[str]:
    """The program of a fused_elementwise node, one instruction per line:
    `r2 = add r0, r1 alpha=1.0` (registers 0..k-1 are the node's inputs, in order)."""
    names = node.attrs["ops"].split()
    regs, params = node.attrs["regs"], node.attrs["params"]
    lines = [f"r{k} = {ref}" for k, ref in enumerate(node.inputs)]
    for k, name in enumerate(names):
        dst, a, b = regs[3 * k:3 * k + 3]
        args = f"r{a}" + (f", r{b}" if b >= 0 else "")
        op = lookup(name)
        labels = [e[0] if isinstance(e, tuple) else e for e in op.fuse_params]
        shown = " ".join(f"{n}={params[2 * k + i]!r}" for i, n in enumerate(labels))
        lines.append(" ".join(part for part in (f"r{dst} = {name} {args}", shown) if part))
    return lines
