"""tracer/passes/fold.py on hand-built graphs: exactly the pure all-const calls fold (chains
in one pass, multi-output calls, view ops), values equal eager's bit for bit, random calls
and results over the size limit stay, and the graph computes the same values."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from unified.ops.registry import TensorMeta, lookup
from unified.tracer import interpret
from unified.tracer.graph import Graph, SourceLoc
from unified.tracer.passes import dce, fold


F32 = np.dtype("float32")
RNG = np.random.default_rng(3)
LINE = SourceLoc("/src/model.py", 7, "forward")


def rand(*shape: int) -> U.Tensor:
    return U.tensor(RNG.standard_normal(shape).astype(np.float32))


def graph_with_constants() -> Graph:
    """out = x * exp(c * 3) + topk(k).values.reshape(2), u = normal (random: not folded)."""
    g = Graph("f")
    x = g.add_input("x", TensorMeta((2,), F32))
    c = g.add_const(np.array([0.5, -1.0], np.float32))
    three = g.add_const(np.float32(3.0))
    k = g.add_const(np.array([[4.0, 1.0, 9.0]], np.float32))
    scaled = g.add_call(lookup("mul"), (c.ref(), three.ref()), None, source=LINE)
    e = g.add_call(lookup("exp"), (scaled.ref(),), None, source=LINE)
    top = g.add_call(lookup("topk"), (k.ref(),), {"k": 2, "dim": 1, "largest": 1})
    flat = g.add_call(lookup("reshape"), (top.ref(0),), {"shape": (2,)})
    prod = g.add_call(lookup("mul"), (x.ref(), e.ref()), None)
    out = g.add_call(lookup("add"), (prod.ref(), flat.ref()), None)
    rng = g.add_const(np.array([1, 0], np.int64))  # generator state (seed, offset)
    noise = g.add_call(lookup("normal"), (rng.ref(),), {"size": (2,), "mean": 0.0,
                                                        "std": 1.0})
    g.set_outputs([out.ref(), noise.ref(), top.ref(1)])
    return g


AFTER = """\
graph f(%x: f32[2]) {
  %1: f32[2] = const [ 0.5,-1. ]
  %2: f32[] = const [3.]
  %3: f32[1,3] = const [4.,1.,9.]
  %12: f32[2] = const [ 1.5,-3. ]                              # model.py:7 forward
  %13: f32[2] = const [4.481689  ,0.04978707]                  # model.py:7 forward
  %14: f32[1,2] = const [9.,4.]
  %15: i64[1,2] = const [2,0]
  %16: f32[2] = const [9.,4.]
  %8: f32[2] = mul %x, %13
  %9: f32[2] = add %8, %16
  %10: i64[2] = const [1,0]
  %11: f32[2] = normal %10 size=(2,) mean=0.0 std=1.0
  return %9, %11, %15
}"""


def test_folds_exactly_the_constant_calls():
    g = graph_with_constants()
    g.check()
    before = str(g)
    out = fold.run(g)
    out.check()
    assert str(out) == AFTER
    assert str(g) == before  # the caller's graph is untouched
    folded = [n for n in out.nodes if n.kind == "const" and n.id >= 11]
    eager_e = (U.tensor([0.5, -1.0]) * 3.0).exp()
    np.testing.assert_array_equal(folded[1].value, eager_e.numpy())  # bit for bit
    assert folded[3].value.dtype == np.dtype("int64") and folded[3].value.tolist() == [[2, 0]]


def test_dce_after_fold_drops_the_spent_consts():
    out = dce.run(fold.run(graph_with_constants()))
    out.check()
    kinds = [(n.kind, n.op.name if n.op else "") for n in out.nodes]
    assert kinds == [("input", ""), ("const", ""), ("const", ""), ("const", ""),
                     ("call", "mul"), ("call", "add"), ("const", ""), ("call", "normal")]


def test_same_values_before_and_after():
    g = graph_with_constants()
    x = rand(2)
    outs0, _ = interpret.run(g, [x], [])
    outs1, _ = interpret.run(dce.run(fold.run(g)), [x], [])
    for a, b in zip(outs0, outs1, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_results_over_the_size_limit_stay_calls():
    g = Graph("big")
    one = g.add_const(np.float32(1.0))
    big = g.add_call(lookup("expand"), (one.ref(),), {"shape": (512, 1024)})  # 2 MiB
    small = g.add_call(lookup("expand"), (one.ref(),), {"shape": (4,)})
    g.set_outputs([big.ref(), small.ref()])
    out = fold.run(g)
    assert [n.kind for n in out.nodes] == ["const", "call", "const"]
    assert out.nodes[1].op.name == "expand" and out.nodes[2].value.tolist() == [1.0] * 4
    assert [n.kind for n in fold.run(g, max_bytes=8 << 20).nodes] == ["const"] * 3
    assert fold.MAX_BYTES == 1 << 20


def test_folded_consts_own_their_data():
    g = Graph("view")
    c = g.add_const(np.arange(6, dtype=np.float32))
    view = g.add_call(lookup("reshape"), (c.ref(),), {"shape": (2, 3)})
    g.set_outputs([view.ref()])
    value = fold.run(g).nodes[1].value
    assert value.base is None and value.flags.c_contiguous and value.shape == (2, 3)


def test_error_while_folding_names_the_line():
    g = Graph("bad")
    c = g.add_const(np.arange(6, dtype=np.float32))
    node = g.add_call(lookup("reshape"), (c.ref(),), {"shape": (4,)},
                      metas=(TensorMeta((4,), F32),), source=LINE)
    g.set_outputs([node.ref()])
    with pytest.raises(ValueError) as info:
        fold.run(g)
    assert "while folding %1 = reshape in graph bad (recorded at model.py:7 forward)" in \
        "\n".join(info.value.__notes__)
