"""In-place reuse: an elementwise op whose input 0 dies at that node may write its output over
that input's buffer, as eager `apply_inplace` does. The pass only marks such nodes (a
planning hint, `node.meta["inplace"] = 0`); tracer/passes/memory_plan.py honours the hint by
giving the output the input's arena buffer and re-checks every condition on its own layouts.

Algorithm:
 1. Storage roots: every ref maps to the ref owning its storage, following Trait.VIEW calls
    to their input 0 (conservatively, as if every view aliased, even one that will copy).
 2. Last reads: the last step (call index) reading each root through any ref of it; roots
    of graph outputs and state-write sources are read at the end (after every step).
 3. Candidates, in graph order: a call with Trait.ELEMENTWISE and Trait.INPLACE_OK (and not
    Trait.VIEW) whose output 0 has exactly input 0's shape and dtype, is neither a graph
    output nor a write source, and whose input 0 is a kernel-made buffer (output of a
    non-view call, its own root) last read at this very step, read by no other input of the
    node (directly or through a view). Such a node gets meta["inplace"] = 0.
Chains are fine: a marked output can itself die at a later candidate and be reused again.
Limits: output 0 over input 0 only (the INPLACE_OK contract); inputs, params and consts are
never overwritten; the pass moves no node to shorten lifetimes."""

from __future__ import annotations

from unified.tracer.graph import Graph, Node, Ref

from unified.ops.registry import Trait

HINT = "inplace"


def run(graph: Graph) -> Graph:
    """A copy of `graph` with meta["inplace"] = 0 on every node that may reuse input 0."""
    out = graph.copy()
    for node in out.nodes:
        node.meta.pop(HINT, None)
    roots = storage_roots(out)
    last = _last_reads(out, roots)
    at_end = {r for r in out.outputs} | {r for _, r in out.writes}
    for step, node in enumerate(out.calls()):
        if _reusable(node, step, roots, last, at_end):
            node.meta[HINT] = 0
    return out


def storage_roots(graph: Graph) -> dict[Ref, Ref]:
    """Step 1: the ref owning each ref's storage (views followed to their base)."""
    roots: dict[Ref, Ref] = {}
    for node in graph.nodes:
        for i in range(len(node.metas)):
            ref = Ref(node, i)
            is_view = node.kind == "call" and Trait.VIEW in node.op.traits
            roots[ref] = roots[node.inputs[0]] if is_view else ref
    return roots


def _last_reads(graph: Graph, roots: dict[Ref, Ref]) -> dict[Ref, int]:
    """Step 2: last reading step per root; len(calls) for roots read at the end."""
    last: dict[Ref, int] = {}
    calls = list(graph.calls())
    for step, node in enumerate(calls):
        for ref in node.inputs:
            last[roots[ref]] = max(last.get(roots[ref], -1), step)
    for ref in [*graph.outputs, *(r for _, r in graph.writes)]:
        last[roots[ref]] = len(calls)
    return last


def _reusable(node: Node, step: int, roots: dict[Ref, Ref], last: dict[Ref, int],
              at_end: set[Ref]) -> bool:
    """Step 3: may output 0 of `node` take input 0's buffer?"""
    traits = node.op.traits
    if (Trait.ELEMENTWISE not in traits or Trait.INPLACE_OK not in traits
            or Trait.VIEW in traits or not node.inputs):
        return False
    src, dst = node.inputs[0], Ref(node, 0)
    if dst in at_end or src.meta != dst.meta:
        return False
    owner = src.node
    if owner.kind != "call" or Trait.VIEW in owner.op.traits or roots[src] != src:
        return False
    if last.get(src, -1) != step:
        return False
    return not any(roots[r] == src for r in node.inputs[1:])
