"""tracer/passes/dce.py on hand-built graphs: exactly the dead calls and consts go, outputs,
writes, side effects and the interface stay, and the graph computes the same values. Also
Graph.copy, which every pass starts from."""

from __future__ import annotations

import numpy as np

import unified as U
from unified.ops.registry import OpDef, TensorMeta, Trait, lookup
from unified.tracer import interpret
from unified.tracer.graph import Graph
from unified.tracer.passes import dce


F32 = np.dtype("float32")
RNG = np.random.default_rng(1)
# not registered: a stand-in for an op whose effect matters (the kernel is a plain copy)
ECHO = OpDef(name="echo", inputs=("x",), infer=lambda x: TensorMeta(x.shape, x.dtype),
             kernel="cast", grad=None, traits=frozenset({Trait.SIDE_EFFECT}))


def rand(*shape: int) -> U.Tensor:
    return U.tensor(RNG.standard_normal(shape).astype(np.float32))


def graph_with_dead_code() -> Graph:
    g = Graph("f")
    x = g.add_input("x", TensorMeta((3, 4), F32))
    g.add_input("unused", TensorMeta((2,), F32))
    w = g.add_param("w", TensorMeta((3, 4), F32))
    lr = g.add_const(np.float32(0.1))
    g.add_const(np.float32(7.0))  # dead const
    sq = g.add_call(lookup("mul"), (x.ref(), x.ref()), None)
    neg = g.add_call(lookup("neg"), (sq.ref(),), None)  # dead chain: neg -> relu
    g.add_call(lookup("relu"), (neg.ref(),), None)
    rng = g.add_const(np.array([5, 0], np.int64))  # dead generator state (seed, offset)
    g.add_call(lookup("normal"), (rng.ref(),), {"size": (3,), "mean": 0.0,
                                                "std": 1.0})  # unused random op
    g.add_call(ECHO, (x.ref(),), None)  # side effect: kept though unused
    top = g.add_call(lookup("topk"), (sq.ref(),), {"k": 2, "dim": 1, "largest": 1})
    step = g.add_call(lookup("mul"), (w.ref(), lr.ref()), None)
    new_w = g.add_call(lookup("sub"), (w.ref(), step.ref()), None)
    g.set_outputs([top.ref(1)])  # only the indices of topk: the call stays
    g.add_write(w, new_w.ref())
    return g


AFTER = """\
graph f(%x: f32[3,4], %unused: f32[2], %w: f32[3,4] param) {
  %3: f32[] = const [0.1]
  %5: f32[3,4] = mul %x, %x
  %10: f32[3,4] = echo %x
  %11.0, %11.1: f32[3,2], i64[3,2] = topk %5 k=2 dim=1 largest=1
  %12: f32[3,4] = mul %w, %3
  %13: f32[3,4] = sub %w, %12
  return %11.1; writes %w <- %13
}"""


def test_removes_exactly_the_dead_nodes():
    g = graph_with_dead_code()
    g.check()
    before = str(g)
    out = dce.run(g)
    out.check()
    assert str(out) == AFTER
    assert len(g.nodes) - len(out.nodes) == 5  # const 7, neg, relu, state const, normal
    assert str(g) == before and len(g.nodes) == 14  # the caller's graph is untouched


def test_same_values_before_and_after():
    g = graph_with_dead_code()
    args = ([rand(3, 4), rand(2)], [rand(3, 4)])
    (idx0,), (w0,) = interpret.run(g, *args)
    (idx1,), (w1,) = interpret.run(dce.run(g), *args)
    np.testing.assert_array_equal(idx0.numpy(), idx1.numpy())
    np.testing.assert_array_equal(w0.numpy(), w1.numpy())


def test_live_graph_is_unchanged_and_idempotent():
    once = dce.run(graph_with_dead_code())
    assert str(dce.run(once)) == str(once) == AFTER


def test_users_are_kept_in_step():
    out = dce.run(graph_with_dead_code())
    sq = next(n for n in out.nodes if n.name == "5")
    assert [u.name for u in sq.users] == ["11"]  # neg was removed from its users
    x = out.inputs()[0]
    assert [u.name for u in x.users] == ["5", "5", "10"]


def test_copy_is_independent_and_prints_the_same():
    g = graph_with_dead_code()
    c = g.copy()
    c.check()
    assert str(c) == str(g) and c.name == g.name
    assert all(a is not b and a.id == b.id for a, b in zip(g.nodes, c.nodes, strict=True))
    assert all(r.node in c.nodes for r in c.outputs)
    assert c.writes[0][0] is c.params()[0]
    relu = next(n for n in c.nodes if n.kind == "call" and n.op.name == "relu")
    c.remove(relu)
    assert len(c.nodes) == len(g.nodes) - 1
    g.check()
    assert any(n.kind == "call" and n.op.name == "relu" for n in g.nodes[5].users[0].users)
