"""tracer/passes/fuse_linear.py and the fused_linear kernel (core_cpp/kernels/fused_linear.cpp)
on hand-built graphs: which (linear, activation) pairs fuse, which do not (the pre-activation
read elsewhere or by the outside world, a two-input user), the activation's params, outputs
BIT-IDENTICAL to the unfused graph through the interpreter and the lowered plan, and a traced
training step whose relu gradient reads relu's output so the pair fuses there too."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower
from unified.tracer.passes import fuse_linear

import unified as U
import unified.nn.functional as F
from unified import nn
from unified.functional import call_op
from unified.ops.fused_linear import fused_linear
from unified.ops.registry import TensorMeta, lookup

F32 = np.dtype("float32")
RNG = np.random.default_rng(7)


def linear_graph(activation: str = "relu", **attrs) -> tuple[Graph, Ref, list[np.ndarray]]:
    """x (6, 4) -> linear (5 out) -> activation; returns the graph, the activation's ref and
    values for x, W, b."""
    g = Graph("f")
    x = g.add_input("x", TensorMeta((6, 4), F32))
    w, b = g.add_param("w", TensorMeta((5, 4), F32)), g.add_param("b", TensorMeta((5,), F32))
    h = g.add_call(lookup("linear"), (x.ref(), w.ref(), b.ref()), None)
    a = g.add_call(lookup(activation), (h.ref(),), attrs or None)
    values = [RNG.standard_normal(s).astype(F32) for s in ((6, 4), (5, 4), (5,))]
    return g, a.ref(), values


def assert_same_values(g: Graph, values: list[np.ndarray]) -> Graph:
    """fuse_linear.run(g) checks and gives bit-identical outputs through the interpreter and
    the lowered plan; returns the fused graph."""
    g.check()
    fused = fuse_linear.run(g)
    fused.check()
    inputs, params = [values[0]], values[1:]
    (want,), _ = interpret.run(g, [U.tensor(inputs[0])], [U.tensor(p) for p in params])
    (got,), _ = interpret.run(fused, [U.tensor(inputs[0])], [U.tensor(p) for p in params])
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    (planned,), _ = lower(fused).run(inputs, params)
    np.testing.assert_array_equal(planned, want.numpy())
    return fused


def ops(g: Graph) -> list[str]:
    return [n.op.name for n in g.calls()]


def test_linear_relu_becomes_one_fused_linear_with_relu_values():
    g, out, values = linear_graph("relu")
    g.set_outputs([out])
    fused = assert_same_values(g, values)
    assert ops(fused) == ["fused_linear"]
    node = next(fused.calls())
    assert node.attrs == {"activation": "relu", "p0": 0.0, "p1": 0.0}
    assert node.meta["fused"] == ["linear", "relu"]
    x, w, b = values
    (planned,), _ = lower(fused).run([x], [w, b])
    np.testing.assert_allclose(planned, np.maximum(x @ w.T + b, 0), rtol=1e-5, atol=1e-6)
    assert "fused_linear %x, %w, %b activation=\"relu\"" in str(fused)
    assert ops(g) == ["linear", "relu"]  # the caller's graph is untouched


@pytest.mark.parametrize("activation, attrs, p", [
    ("leaky_relu", {"negative_slope": 0.2}, (0.2, 0.0)),
    ("clamp", {"min": -0.5, "max": 0.25}, (-0.5, 0.25)),
    ("gelu", {"approximate": "tanh"}, (1.0, 0.0)),
    ("sigmoid", {}, (0.0, 0.0)),
])
def test_activation_params_become_p0_p1_and_values_are_identical(activation, attrs, p):
    g, out, values = linear_graph(activation, **attrs)
    g.set_outputs([out])
    fused = assert_same_values(g, values)
    node = next(fused.calls())
    assert ops(fused) == ["fused_linear"]
    assert (node.attrs["activation"], node.attrs["p0"], node.attrs["p1"]) == (activation, *p)


def test_pre_activation_read_elsewhere_is_not_fused():
    g, out, _ = linear_graph("relu")
    pre = out.node.inputs[0]
    extra = g.add_call(lookup("neg"), (pre,), None)
    g.set_outputs([out, extra.ref()])
    assert fuse_linear.pairs(g) == []
    assert ops(fuse_linear.run(g)) == ["linear", "relu", "neg"]


def test_pre_activation_that_is_a_graph_output_is_not_fused():
    g, out, _ = linear_graph("relu")
    g.set_outputs([out, out.node.inputs[0]])
    assert ops(fuse_linear.run(g)) == ["linear", "relu"]


def test_two_input_user_is_not_fused():
    g = Graph("f")
    x = g.add_input("x", TensorMeta((6, 4), F32))
    w, b = g.add_param("w", TensorMeta((5, 4), F32)), g.add_param("b", TensorMeta((5,), F32))
    h = g.add_call(lookup("linear"), (x.ref(), w.ref(), b.ref()), None)
    s = g.add_call(lookup("add"), (h.ref(), h.ref()), None)
    g.set_outputs([s.ref()])
    assert ops(fuse_linear.run(g)) == ["linear", "add"]


@pytest.mark.parametrize("x_shape, w_shape", [
    ((64, 256), (256, 256)),  # blocks of columns (fewer rows than outputs)
    ((512, 64), (64, 64)),  # blocks of rows
    ((2, 96, 80), (40, 80)),  # 3-D input
    ((64, 256), (10, 256)),  # below the parallel threshold: one block
])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kernel_is_bit_identical_to_linear_then_relu(x_shape, w_shape, threads):
    """The per-thread blocks (bias, GEMM, activation) give the bits of linear then relu."""
    x, w = (RNG.standard_normal(s).astype(F32) for s in (x_shape, w_shape))
    b = RNG.standard_normal(w_shape[0]).astype(F32)
    before = U.get_num_threads()
    U.set_num_threads(threads)
    try:
        got = call_op(fused_linear, *(U.tensor(a) for a in (x, w, b)), activation="relu",
                      p0=0.0, p1=0.0).numpy()
        want = U.relu(call_op(lookup("linear"), *(U.tensor(a) for a in (x, w, b)))).numpy()
    finally:
        U.set_num_threads(before)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np.maximum(x @ w.T + b, 0), rtol=1e-4, atol=1e-4)


def test_kernel_rejects_a_two_input_activation_by_name():
    x, w, b = (U.tensor(RNG.standard_normal(s).astype(F32)) for s in ((2, 3), (4, 3), (4,)))
    with pytest.raises(ValueError, match="activation 'add' is not a one-input op"):
        call_op(fused_linear, x, w, b, activation="add", p0=0.0, p1=0.0)


def test_traced_training_step_fuses_linear_relu_and_matches_eager():
    """relu's gradient reads relu's output, so the pre-activation dies at the relu and the
    traced step (forward + backward + SGD) runs fused_linear; losses and weights equal an
    eager copy of the model, step by step."""
    def make():
        U.manual_seed(3)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        return model, U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step_fn(model, opt):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    eager_model, eager_opt = make()
    model, opt = make()
    traced = U.trace(step_fn(model, opt))
    eager = step_fn(eager_model, eager_opt)
    for i in range(5):
        x = U.tensor(RNG.standard_normal((4, 8)).astype(F32))
        y = U.tensor(RNG.integers(0, 3, 4))
        assert traced(x, y).item() == eager(x, y).item()
    graph = traced._last_rec.compiled.exe.graph
    assert [n.op.name for n in graph.calls()].count("fused_linear") == 1
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
