"""Static memory planning on hand-built graphs: exact offsets, no two live buffers overlap
(checked exhaustively on random graphs), views alias, outputs and writes live in place."""

from __future__ import annotations

import random

import numpy as np
import pytest
from unified.tracer.graph import Graph
from unified.tracer.passes import memory_plan as mp

import unified  # noqa: F401  (registers the ops)
from tests.tracer.graphs import call as _call
from tests.tracer.graphs import meta as _meta
from tests.tracer.graphs import random_graph as _random_graph

F32 = np.dtype(np.float32)


def _chain(n=4, shape=(4, 8)):
    g = Graph("chain")
    x = g.add_input("x", _meta(*shape)).ref()
    refs = [x]
    for name in ["relu", "exp", "neg", "sigmoid", "tanh", "abs"][:n]:
        refs.append(_call(g, name, refs[-1]))
    g.set_outputs([refs[-1]])
    return g, refs


def test_exact_offsets_on_a_chain():
    g, (_, a, b, c, d) = _chain(4)
    plan = mp.plan(g)
    assert plan.offsets == {a: 0, b: 128, c: 0}
    assert plan.lifetimes == {a: (0, 1), b: (1, 2), c: (2, 3), d: (3, 3)}
    assert plan.homes == {d: ("output", 0)}
    assert plan.arena_bytes == 256
    assert plan.buffers_bytes == 384  # the arena is smaller than the sum of its buffers
    assert plan.num_steps == 4


def test_greedy_by_size_places_largest_first_at_the_lowest_free_offset():
    sizes = {"A": 100, "B": 64, "C": 200, "D": 64}
    lives = {"A": (0, 2), "B": (1, 3), "C": (3, 4), "D": (0, 4)}
    offsets, top = mp.place(sizes, lives)
    # order C (256 aligned), A (128), D (64, first 0), B (64, first 1)
    assert offsets == {"C": 0, "A": 0, "D": 256, "B": 320}
    assert top == 384


def test_zero_size_buffers_take_no_space():
    offsets, top = mp.place({"A": 0, "B": 8}, {"A": (0, 1), "B": (0, 1)})
    assert offsets == {"A": 0, "B": 0} and top == 64


def test_views_alias_their_base_and_extend_its_lifetime():
    g = Graph("views")
    x = g.add_input("x", _meta(4, 6)).ref()
    a = _call(g, "relu", x)                                        # step 0
    v = _call(g, "reshape", a, shape=(6, 4))                       # step 1
    p = _call(g, "permute", v, dims=(1, 0))                        # step 2
    s = _call(g, "slice", p, starts=(1, 0), stops=(3, 6), steps=(1, 2), squeeze=())  # step 3
    b = _call(g, "exp", x)                                         # step 4
    c = _call(g, "add", s, _call(g, "slice", b, starts=(0, 0), stops=(2, 6), steps=(1, 2),
                                squeeze=()))                      # steps 5, 6
    g.set_outputs([c])
    plan = mp.plan(g)
    assert plan.layouts[v] == mp.Layout(a, 0, (4, 1))
    assert plan.layouts[p] == mp.Layout(a, 0, (1, 4))
    assert plan.layouts[s] == mp.Layout(a, 4, (1, 8))  # row 1 of the permute: element 1
    assert plan.lifetimes[a] == (0, 6)  # read through s by the add at step 6
    assert set(plan.offsets) == {a, b}
    assert plan.offsets[a] != plan.offsets[b]  # both live at steps 4..6
    assert not plan.copies


def test_a_view_that_needs_a_copy_gets_its_own_buffer():
    g = Graph("copy")
    x = g.add_input("x", _meta(4, 6)).ref()
    a = _call(g, "relu", x)
    p = _call(g, "permute", a, dims=(1, 0))
    r = _call(g, "reshape", p, shape=(24,))
    out = _call(g, "neg", r)
    g.set_outputs([out])
    plan = mp.plan(g)
    assert plan.copies == {r}
    assert plan.layouts[r] == mp.Layout(r, 0, (1,))
    assert plan.lifetimes[a] == (0, 2) and plan.lifetimes[r] == (2, 3)
    assert plan.offsets[a] != plan.offsets[r]
    assert plan.sizes[r] == 96


def test_outputs_of_views_and_inputs_are_read_at_the_end():
    g = Graph("end")
    x = g.add_input("x", _meta(8)).ref()
    a = _call(g, "relu", x)
    b = _call(g, "exp", a)
    v = _call(g, "reshape", a, shape=(2, 4))
    g.set_outputs([v, b, x])
    plan = mp.plan(g)
    assert plan.homes == {b: ("output", 1)}
    assert plan.lifetimes[a] == (0, 3)  # END = 3: copied out into output 0
    assert plan.num_steps == 3


def _sgd_graph(read_after: bool):
    g = Graph("sgd")
    x = g.add_input("x", _meta(4)).ref()
    w = g.add_param("w", _meta(4))
    grad = _call(g, "mul", x, w.ref())
    new = _call(g, "sub", w.ref(), grad)
    outs = [_call(g, "add", w.ref(), x)] if read_after else []
    g.set_outputs(outs)
    g.add_write(w, new)
    return g, w, grad, new


def test_a_write_lives_in_its_param_when_the_param_is_not_read_later():
    g, _, grad, new = _sgd_graph(read_after=False)
    plan = mp.plan(g)
    assert plan.homes == {new: ("param", 0)}  # sub writes over its input 0, the param
    assert set(plan.offsets) == {grad}


def test_a_write_is_planned_until_the_end_when_the_param_is_read_later():
    g, _, grad, new = _sgd_graph(read_after=True)
    plan = mp.plan(g)
    assert new not in plan.homes
    assert plan.lifetimes[new] == (1, 3)  # copied into the param at END
    assert plan.offsets[new] != plan.offsets[grad]


def test_a_write_over_a_non_inplace_op_waits_for_the_param_readers():
    g = Graph("mm")
    w = g.add_param("w", _meta(3, 3))
    new = _call(g, "matmul", w.ref(), w.ref())  # reads w while writing: not in place
    g.add_write(w, new)
    plan = mp.plan(g)
    assert plan.homes == {} and plan.lifetimes[new] == (0, 1)


def _check_no_overlap(plan: mp.MemoryPlan) -> None:
    items = list(plan.offsets.items())
    for ref, offset in items:
        assert offset % mp.ALIGN == 0
        assert offset + plan.sizes[ref] <= plan.arena_bytes
    for i, (r1, o1) in enumerate(items):
        for r2, o2 in items[i + 1:]:
            (a1, b1), (a2, b2) = plan.lifetimes[r1], plan.lifetimes[r2]
            if a1 <= b2 and a2 <= b1 and plan.sizes[r1] and plan.sizes[r2]:
                assert o1 + plan.sizes[r1] <= o2 or o2 + plan.sizes[r2] <= o1, (r1, r2)


@pytest.mark.parametrize("seed", range(40))
def test_no_two_live_buffers_overlap_on_random_graphs(seed):
    g = _random_graph(random.Random(seed))
    g.check()
    _check_no_overlap(mp.plan(g))


def test_the_arena_reuses_memory_on_a_long_chain():
    g, _ = _chain(6, shape=(64, 64))
    plan = mp.plan(g)
    _check_no_overlap(plan)
    assert plan.arena_bytes == 2 * 64 * 64 * 4
    assert plan.buffers_bytes == 5 * 64 * 64 * 4


def test_report_lists_the_arena_and_every_buffer():
    g, _ = _chain(4)
    text = mp.plan(g).report()
    assert text.splitlines()[0] == ("memory plan for chain: arena 256 bytes for 3 buffers of "
                                    "384 bytes (67%)")
    assert "%1       @ arena[0:128]" in text
    assert "%2       @ arena[128:256]" in text
    assert "%4       -> output 0" in text
    assert "steps 1..2" in text
