"""tracer/passes/cse.py on hand-built graphs: exactly the duplicate pure calls and identical
consts merge (chains in one pass, multi-output calls by index); random calls, different
attrs, different consts and swapped inputs stay apart; values are unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import unified as U
from unified.ops.registry import TensorMeta, lookup
from unified.tracer import interpret
from unified.tracer.graph import Graph
from unified.tracer.passes import cse


F32 = np.dtype("float32")
RNG = np.random.default_rng(2)
NORMAL = {"size": (3,), "mean": 0.0, "std": 1.0}


def rand(*shape: int) -> U.Tensor:
    return U.tensor(RNG.standard_normal(shape).astype(np.float32))


def graph_with_duplicates() -> Graph:
    g = Graph("f")
    x = g.add_input("x", TensorMeta((3, 4), F32))
    y = g.add_input("y", TensorMeta((3, 4), F32))
    w = g.add_param("w", TensorMeta((3, 4), F32))
    c1 = g.add_const(np.float32(2.0))
    c2 = g.add_const(np.float32(2.0))  # same as c1: merged
    c3 = g.add_const(np.array([2.0], np.float32))  # other shape: kept
    rng = g.add_const(np.array([5, 0], np.int64))  # generator state (seed, offset)
    a1 = g.add_call(lookup("mul"), (x.ref(), y.ref()), None)
    a2 = g.add_call(lookup("mul"), (x.ref(), y.ref()), None)  # merged into a1
    b1 = g.add_call(lookup("add"), (a1.ref(), c1.ref()), None)
    b2 = g.add_call(lookup("add"), (a2.ref(), c2.ref()), None)  # merged once a2, c2 are
    swapped = g.add_call(lookup("mul"), (y.ref(), x.ref()), None)  # kept: not reordered
    b3 = g.add_call(lookup("add"), (a1.ref(), c3.ref()), None)  # kept: other const
    s1 = g.add_call(lookup("sum"), (x.ref(),), {"dims": (1,), "keepdim": False})
    s2 = g.add_call(lookup("sum"), (x.ref(),), {"dims": (1,), "keepdim": True})  # kept
    r1 = g.add_call(lookup("normal"), (rng.ref(),), NORMAL)
    r2 = g.add_call(lookup("normal"), (rng.ref(),), NORMAL)  # random: kept
    t1 = g.add_call(lookup("topk"), (x.ref(),), {"k": 2, "dim": 1, "largest": 1})
    t2 = g.add_call(lookup("topk"), (x.ref(),), {"k": 2, "dim": 1, "largest": 1})  # merged
    g.set_outputs([b1.ref(), b2.ref(), swapped.ref(), b3.ref(), s1.ref(), s2.ref(),
                   r1.ref(), r2.ref(), t2.ref(0), t1.ref(1)])
    g.add_write(w, b2.ref())
    return g


AFTER = """\
graph f(%x: f32[3,4], %y: f32[3,4], %w: f32[3,4] param) {
  %3: f32[] = const [2.]
  %5: f32[1] = const [2.]
  %6: i64[2] = const [5,0]
  %7: f32[3,4] = mul %x, %y
  %9: f32[3,4] = add %7, %3
  %11: f32[3,4] = mul %y, %x
  %12: f32[3,4] = add %7, %5
  %13: f32[3] = sum %x dims=(1,) keepdim=False
  %14: f32[3,1] = sum %x dims=(1,) keepdim=True
  %15: f32[3] = normal %6 size=(3,) mean=0.0 std=1.0
  %16: f32[3] = normal %6 size=(3,) mean=0.0 std=1.0
  %17.0, %17.1: f32[3,2], i64[3,2] = topk %x k=2 dim=1 largest=1
  return %9, %9, %11, %12, %13, %14, %15, %16, %17.0, %17.1; writes %w <- %9
}"""


def test_merges_exactly_the_duplicates():
    g = graph_with_duplicates()
    g.check()
    before = str(g)
    out = cse.run(g)
    out.check()
    assert str(out) == AFTER
    assert len(g.nodes) - len(out.nodes) == 4  # c2, a2, b2, t2
    assert str(g) == before  # the caller's graph is untouched


def test_users_move_to_the_kept_node():
    out = cse.run(graph_with_duplicates())
    a1 = next(n for n in out.nodes if n.name == "7")
    assert [u.name for u in a1.users] == ["9", "12"]
    c1 = next(n for n in out.nodes if n.name == "3")
    assert [u.name for u in c1.users] == ["9"]


def test_same_values_before_and_after():
    g = graph_with_duplicates()
    args = ([rand(3, 4), rand(3, 4)], [rand(3, 4)])
    outs0, writes0 = interpret.run(g, *args)
    outs1, writes1 = interpret.run(cse.run(g), *args)
    for a, b in zip(outs0 + writes0, outs1 + writes1, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_idempotent():
    once = cse.run(graph_with_duplicates())
    assert str(cse.run(once)) == AFTER


def test_attr_keys_compare_type_and_exact_value():
    assert cse.freeze(0.0) != cse.freeze(-0.0)
    assert cse.freeze(1) != cse.freeze(1.0)
    assert cse.freeze(True) != cse.freeze(1)
    assert cse.freeze((1, 2)) != cse.freeze([1, 2])
    assert cse.freeze(math.nan) == cse.freeze(math.nan)
    assert cse.freeze({"a": (1, 2.5)}) == cse.freeze({"a": (1, 2.5)})
    assert cse.freeze(np.float32(1.5)) != cse.freeze(1.5)
    assert cse.freeze(F32) == cse.freeze(np.dtype("float32"))


def test_a_node_read_twice_is_listed_once_per_read():
    g = Graph("sq")
    x = g.add_input("x", TensorMeta((2,), F32))
    a = g.add_call(lookup("mul"), (x.ref(), x.ref()), None)
    b = g.add_call(lookup("mul"), (x.ref(), x.ref()), None)
    total = g.add_call(lookup("add"), (a.ref(), b.ref()), None)
    g.set_outputs([total.ref()])
    out = cse.run(g)
    out.check()  # check() counts users per read
    assert str(out).splitlines()[1:3] == ["  %1: f32[2] = mul %x, %x",
                                          "  %3: f32[2] = add %1, %1"]
    x1, a1 = out.nodes[0], out.nodes[1]
    assert [u.name for u in x1.users] == ["1", "1"]
    assert [u.name for u in a1.users] == ["3", "3"]
    a1.users.pop()
    with pytest.raises(ValueError, match=r"%1> does not list user <call %3> once per read"):
        out.check()
