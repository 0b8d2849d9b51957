"""The in-place reuse pass on hand-built graphs: exactly which nodes get the hint, how the memory
plan honours it (shared offsets, shorter arena), and lowered plans with the hints still equal
the interpreter bit for bit on random graphs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower
from unified.tracer.passes import inplace
from unified.tracer.passes import memory_plan as mp

import unified  # noqa: F401  (registers the ops)
from tests.tracer.graphs import call as _call
from tests.tracer.graphs import meta as _meta
from tests.tracer.graphs import random_graph as _random_graph
from unified.tensor import wrap

F32 = np.dtype(np.float32)


def _marked(g: Graph) -> list[str]:
    return [n.name for n in g.calls() if n.meta.get("inplace") == 0]


def test_a_chain_reuses_every_dying_input_but_not_the_graph_input():
    g = Graph("chain")
    x = g.add_input("x", _meta(64, 16)).ref()
    a = _call(g, "exp", x)      # %1: input x is the caller's: never overwritten
    b = _call(g, "neg", a)      # %2 over %1
    c = _call(g, "tanh", b)     # %3 over %2
    d = _call(g, "relu", c)     # %4: a graph output, so it keeps its own (output) buffer
    g.set_outputs([d])
    out = inplace.run(g)
    assert _marked(out) == ["2", "3"]
    assert _marked(g) == []  # the caller's graph is unchanged
    plan = mp.plan(out)
    a2, b2, c2 = (Ref(n) for n in list(out.calls())[:3])
    assert plan.reuses == {b2: a2, c2: b2}
    assert plan.offsets == {a2: 0, b2: 0, c2: 0}
    assert plan.arena_bytes == 64 * 16 * 4  # one buffer instead of two alternating
    assert mp.plan(g).arena_bytes == 2 * 64 * 16 * 4
    assert "(in place of %1)" in plan.report()


def test_an_input_read_later_is_not_overwritten():
    g = Graph("later")
    x = g.add_input("x", _meta(4, 8)).ref()
    a = _call(g, "exp", x)
    b = _call(g, "neg", a)     # a is read again below: no reuse
    c = _call(g, "add", b, a)  # b dies here as input 0 (a as input 1): %3 over %2
    g.set_outputs([_call(g, "relu", c)])  # a graph output: not marked
    assert _marked(inplace.run(g)) == ["3"]


def test_the_same_buffer_as_a_second_input_or_through_a_view_blocks_reuse():
    g = Graph("alias")
    x = g.add_input("x", _meta(8, 8)).ref()
    a = _call(g, "exp", x)
    b = _call(g, "mul", a, a)                 # a is input 0 and 1: no
    t = _call(g, "permute", b, dims=(1, 0))
    c = _call(g, "add", b, t)                 # b also read through its view: no
    r = _call(g, "relu", c)
    g.set_outputs([_call(g, "matmul", r, r)])
    assert _marked(inplace.run(g)) == ["5"]   # only relu over c


def test_shape_or_dtype_change_views_and_non_inplace_ops_are_not_marked():
    g = Graph("kinds")
    x = g.add_input("x", _meta(4, 8)).ref()
    y = g.add_input("y", _meta(1, 8)).ref()
    a = _call(g, "exp", y)
    b = _call(g, "add", a, x)                      # broadcast: output [4,8] != input 0 [1,8]
    c = _call(g, "cast", b, dtype="int32")         # dtype changes
    d = _call(g, "reshape", c, shape=(8, 4))       # a view (read at the end, as an output)
    g.set_outputs([d])
    assert _marked(inplace.run(g)) == []


def test_writes_and_outputs_are_read_at_the_end():
    g = Graph("state")
    w = g.add_param("w", _meta(4, 4))
    a = _call(g, "exp", w.ref())
    b = _call(g, "neg", a)          # over a
    g.add_write(w, b)               # b is a write source: its own buffer (or the param)
    c = _call(g, "tanh", a)         # a is read here too, so b could not take a after all
    g.set_outputs([c])
    assert _marked(inplace.run(g)) == []


def test_the_planner_ignores_a_hint_it_cannot_honour():
    g = Graph("bad")
    x = g.add_input("x", _meta(4, 4)).ref()
    a = _call(g, "exp", x)
    b = _call(g, "neg", a)
    c = _call(g, "add", b, a)  # a still alive at b: a wrong hint on b
    g.set_outputs([c])
    b.node.meta["inplace"] = 0
    plan = mp.plan(g)
    assert plan.reuses == {}
    assert plan.offsets[a] != plan.offsets[b]


def _chain_root(plan: mp.MemoryPlan, ref: Ref) -> Ref:
    while ref in plan.reuses:
        ref = plan.reuses[ref]
    return ref


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_share_only_along_inplace_chains_and_match_the_interpreter(seed):
    g = inplace.run(_random_graph(random.Random(seed)))
    g.check()
    plan = mp.plan(g)
    items = list(plan.offsets.items())
    for i, (r1, o1) in enumerate(items):
        for r2, o2 in items[i + 1:]:
            (a1, b1), (a2, b2) = plan.lifetimes[r1], plan.lifetimes[r2]
            if a1 <= b2 and a2 <= b1 and _chain_root(plan, r1) != _chain_root(plan, r2):
                assert o1 + plan.sizes[r1] <= o2 or o2 + plan.sizes[r2] <= o1, (r1, r2)
    for dst, src in plan.reuses.items():
        assert plan.offsets[dst] == plan.offsets[src]
        assert plan.lifetimes[src][1] == plan.lifetimes[dst][0]  # the input dies where it goes
    rng = np.random.default_rng(seed)
    exe = lower(g, plan)
    inputs = [rng.standard_normal(n.metas[0].shape).astype(F32) for n in g.inputs()]
    outputs, _ = exe.run(inputs, [])
    want, _ = interpret.run(g, [wrap(a) for a in inputs], [])
    for got, w in zip(outputs, want):
        np.testing.assert_array_equal(got, w.numpy())
