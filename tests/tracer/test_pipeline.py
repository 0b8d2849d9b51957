"""The pass pipeline (tracer/pipeline.py): the pass order, the optimized graph on a hand-built
graph, writes turned into outputs for the guarded (copy) scheme, and the lowered plan's
results against the interpreter (the oracle)."""

from __future__ import annotations

import numpy as np
from unified.tracer import interpret, pipeline
from unified.tracer.graph import Graph
from unified.tracer.passes import cse, dce, fold

import unified as U
from unified.ops.registry import TensorMeta, lookup

F32 = np.dtype("float32")


def step_graph() -> Graph:
    """w <- w - 0.5 * (x * x + x * x) * (2 * 3); out = sum(w_new); a dead exp."""
    g = Graph("f")
    x = g.add_input("x", TensorMeta((3,), F32))
    w = g.add_param("w", TensorMeta((3,), F32))
    two, three, half = (g.add_const(np.float32(v)) for v in (2.0, 3.0, 0.5))
    six = g.add_call(lookup("mul"), (two.ref(), three.ref()), None)  # folded
    a = g.add_call(lookup("mul"), (x.ref(), x.ref()), None)
    b = g.add_call(lookup("mul"), (x.ref(), x.ref()), None)  # merged into a
    g.add_call(lookup("exp"), (x.ref(),), None)  # dead
    s = g.add_call(lookup("add"), (a.ref(), b.ref()), None)
    scaled = g.add_call(lookup("mul"), (s.ref(), six.ref()), None)
    step = g.add_call(lookup("mul"), (scaled.ref(), half.ref()), None)
    new_w = g.add_call(lookup("sub"), (w.ref(), step.ref()), None)
    total = g.add_call(lookup("sum"), (new_w.ref(),), {"dims": (0,), "keepdim": False})
    g.set_outputs([total.ref()])
    g.add_write(w, new_w.ref())
    return g


def test_pass_order_runs_cleanup_first_and_fusion_when_built():
    order = pipeline.passes()
    assert order[:4] == [dce, cse, fold, dce]
    assert order[4:] == [pipeline.fuse_linear, pipeline.fuse_conv, pipeline.fuse, dce]


def test_optimize_merges_folds_and_drops_dead_code():
    g = step_graph()
    before = str(g)
    out = pipeline.optimize(g)
    out.check()
    assert str(g) == before  # the caller's graph is untouched
    if pipeline.fuse is None:
        ops = [n.op.name for n in out.calls()]
        assert ops == ["mul", "add", "mul", "mul", "sub", "sum"]
    assert [n.name for n in out.inputs()] == ["x"] and [n.name for n in out.params()] == ["w"]


def _run_both(in_place: bool):
    x = np.array([1.0, -2.0, 3.0], F32)
    w0 = np.array([0.5, 0.25, -1.0], F32)
    (want_total,), (want_w,) = interpret.run(step_graph(), [U.tensor(x)], [U.tensor(w0.copy())])
    exe = pipeline.compile(step_graph(), in_place=in_place)
    w = w0.copy()
    outputs, writes = exe.run([x], [w])
    return want_total.numpy(), want_w.numpy(), outputs, writes, w, w0


def test_in_place_plan_writes_the_param_and_matches_the_interpreter():
    want_total, want_w, outputs, writes, w, _ = _run_both(in_place=True)
    np.testing.assert_array_equal(outputs[0], want_total)
    np.testing.assert_array_equal(w, want_w)
    assert len(outputs) == 1 and writes[0] is w


def test_copy_scheme_returns_writes_as_outputs_and_leaves_params_alone():
    want_total, want_w, outputs, writes, w, w0 = _run_both(in_place=False)
    np.testing.assert_array_equal(w, w0)  # the plan wrote no state
    assert writes == [] and len(outputs) == 2
    np.testing.assert_array_equal(outputs[0], want_total)
    np.testing.assert_array_equal(outputs[1], want_w)


def mlp_graph() -> Graph:
    """relu(x W1^T + b1) -> linear: the first linear + relu fuse; the last linear stays."""
    g = Graph("mlp")
    x = g.add_input("x", TensorMeta((4, 3), F32))
    w1, b1 = g.add_param("w1", TensorMeta((5, 3), F32)), g.add_param("b1", TensorMeta((5,), F32))
    w2, b2 = g.add_param("w2", TensorMeta((2, 5), F32)), g.add_param("b2", TensorMeta((2,), F32))
    h = g.add_call(lookup("linear"), (x.ref(), w1.ref(), b1.ref()), None)
    a = g.add_call(lookup("relu"), (h.ref(),), None)
    y = g.add_call(lookup("linear"), (a.ref(), w2.ref(), b2.ref()), None)
    g.set_outputs([y.ref()])
    return g


def test_pipeline_fuses_linear_relu_and_the_plan_matches_the_interpreter():
    if pipeline.fuse is None:
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(F32)
    params = [rng.standard_normal(s).astype(F32) for s in ((5, 3), (5,), (2, 5), (2,))]
    assert [n.op.name for n in pipeline.optimize(mlp_graph()).calls()] == [
        "fused_linear", "linear"]
    (want,), _ = interpret.run(mlp_graph(), [U.tensor(x)], [U.tensor(p) for p in params])
    outputs, _ = pipeline.compile(mlp_graph()).run([x], params)
    np.testing.assert_array_equal(outputs[0], want.numpy())
    np.testing.assert_allclose(outputs[0], np.maximum(x @ params[0].T + params[1], 0)
                               @ params[2].T + params[3], rtol=1e-5, atol=1e-5)
