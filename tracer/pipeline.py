"""The pass pipeline a trace runs once per cached variant: clean-up passes, elementwise fusion
when it is built, then the memory plan and lowering to a `_core` plan (tracer/lower.py).
trace.py calls `compile`; each pass lives in tracer/passes/ with its own `run(graph)`.

Steps:
 1. dce -> cse -> fold -> dce: drop dead code, merge duplicates, evaluate constant calls,
    then drop the consts and calls folding left unused.
 2. fuse_linear -> fuse_conv -> fuse -> dce: linear + activation and conv2d + activation
    pairs first (one GEMM or convolution with the activation applied to its output blocks),
    then chains of elementwise ops.
 3. With in_place=False every state write becomes an extra output instead (appended after
    graph.outputs, in graph.writes order) so that running the plan changes no state.
 4. inplace (marks elementwise ops that may write over a dying input 0), memory_plan.plan,
    then lower.lower: one Executable per graph.
Each pass returns a new graph; under UNIFIED_CHECK=1 the graph is checked after every pass.
Inputs and params are never removed by a pass (the interface stays), so the caller binds the
optimized graph's inputs/params by node id, as the recorded graph's."""

from __future__ import annotations

from unified.tracer import lower as lowering
from unified.tracer.graph import Graph
from unified.tracer.passes import cse, dce, fold, fuse, fuse_conv, fuse_linear, inplace
from unified.tracer.passes import memory_plan as mp

from unified import config


def passes() -> list:
    """The pass modules in the order they run (steps 1 and 2)."""
    return [dce, cse, fold, dce, fuse_linear, fuse_conv, fuse, dce]


def optimize(graph: Graph) -> Graph:
    """Steps 1-2: `graph` through every pass; the caller's graph is unchanged."""
    for p in passes():
        graph = p.run(graph)
        if config.CHECK:
            graph.check()
    return graph


def compile(graph: Graph, in_place: bool = True) -> lowering.Executable:
    """Steps 1-4: the optimized graph, planned and lowered (`exe.graph` is the graph the plan
    runs, `exe.memory` its MemoryPlan)."""
    optimized = optimize(graph)
    if not in_place:
        optimized = optimized.copy()
        optimized.set_outputs(optimized.outputs + [r for _, r in optimized.writes])
        optimized.writes = []
    optimized = inplace.run(optimized)
    return lowering.lower(optimized, mp.plan(optimized))
