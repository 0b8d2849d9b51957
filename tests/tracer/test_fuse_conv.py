"""tracer/passes/fuse_conv.py and the fused_conv2d kernel (core_cpp/kernels/conv.cpp) on
hand-built graphs: which (conv2d, activation) pairs fuse and which do not, the attrs the fused
node carries, outputs BIT-IDENTICAL to the unfused graph through the interpreter and the
lowered plan, the kernel against conv2d then the activation over every conv code path
(im2col tiles, per-tap shifted GEMMs, Winograd, 1x1, groups) at 1 and 2 threads, and a traced
CNN training step whose relu gradients read relu's output, so the forward pairs fuse."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower
from unified.tracer.passes import fuse_conv

import unified as U
import unified.nn.functional as F
from tests.tracer.graphs import call, meta
from unified import nn
from unified.functional import call_op
from unified.ops.fused_conv import fused_conv2d
from unified.ops.registry import lookup

F32 = np.dtype("float32")
RNG = np.random.default_rng(11)
CONV_ATTRS = {"stride": (2, 1), "padding": (1, 0, 1, 2), "dilation": (1, 1), "groups": 2}


def conv_graph(activation: str = "relu", **attrs) -> tuple[Graph, Ref, list[np.ndarray]]:
    """x (2, 4, 7, 6) -> conv2d (6 out, 3x3, CONV_ATTRS) -> activation; returns the graph, the
    activation's ref and values for x, W, b."""
    g = Graph("f")
    x = g.add_input("x", meta(2, 4, 7, 6))
    w, b = g.add_param("w", meta(6, 2, 3, 3)), g.add_param("b", meta(6))
    h = call(g, "conv2d", x, w, b, **CONV_ATTRS)
    a = call(g, activation, h, **attrs)
    values = [RNG.standard_normal(s).astype(F32) for s in ((2, 4, 7, 6), (6, 2, 3, 3), (6,))]
    return g, a, values


def assert_same_values(g: Graph, values: list[np.ndarray]) -> Graph:
    """fuse_conv.run(g) checks and gives bit-identical outputs through the interpreter and the
    lowered plan; returns the fused graph."""
    g.check()
    fused = fuse_conv.run(g)
    fused.check()
    x, params = U.tensor(values[0]), [U.tensor(p) for p in values[1:]]
    (want,), _ = interpret.run(g, [x], params)
    (got,), _ = interpret.run(fused, [x], params)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    (planned,), _ = lower(fused).run(values[:1], values[1:])
    np.testing.assert_array_equal(planned, want.numpy())
    return fused


def ops(g: Graph) -> list[str]:
    return [n.op.name for n in g.calls()]


def test_conv_relu_becomes_one_fused_conv2d_with_the_conv_attrs():
    g, out, values = conv_graph("relu")
    g.set_outputs([out])
    fused = assert_same_values(g, values)
    assert ops(fused) == ["fused_conv2d"]
    node = next(fused.calls())
    assert node.attrs == dict(CONV_ATTRS, activation="relu", p0=0.0, p1=0.0)
    assert node.meta["fused"] == ["conv2d", "relu"]
    assert [r.node.name for r in node.inputs] == ["x", "w", "b"]
    assert node.metas == out.node.metas
    assert ops(g) == ["conv2d", "relu"]  # the caller's graph is untouched


@pytest.mark.parametrize("activation, attrs, p", [
    ("leaky_relu", {"negative_slope": 0.2}, (0.2, 0.0)),
    ("clamp", {"min": -0.5, "max": 0.25}, (-0.5, 0.25)),
    ("gelu", {"approximate": "tanh"}, (1.0, 0.0)),
    ("sigmoid", {}, (0.0, 0.0)),
])
def test_activation_params_become_p0_p1_and_values_are_identical(activation, attrs, p):
    g, out, values = conv_graph(activation, **attrs)
    g.set_outputs([out])
    node = next(assert_same_values(g, values).calls())
    assert (node.op.name, node.attrs["activation"], node.attrs["p0"], node.attrs["p1"]) == (
        "fused_conv2d", activation, *p)


def test_pre_activation_read_elsewhere_is_not_fused():
    g, out, _ = conv_graph("relu")
    extra = call(g, "neg", out.node.inputs[0])
    g.set_outputs([out, extra])
    assert ops(fuse_conv.run(g)) == ["conv2d", "relu", "neg"]


def test_pre_activation_that_is_a_graph_output_is_not_fused():
    g, out, _ = conv_graph("relu")
    g.set_outputs([out, out.node.inputs[0]])
    assert ops(fuse_conv.run(g)) == ["conv2d", "relu"]


def test_two_input_user_and_a_linear_are_left_alone():
    g = Graph("f")
    x, v = g.add_input("x", meta(2, 4, 7, 6)), g.add_input("v", meta(3, 4))
    pre = call(g, "conv2d", x, g.add_param("w", meta(6, 2, 3, 3)), g.add_param("b", meta(6)),
               **CONV_ATTRS)
    lin = call(g, "linear", v, g.add_param("lw", meta(5, 4)), g.add_param("lb", meta(5)))
    g.set_outputs([call(g, "add", pre, pre), call(g, "relu", lin)])
    g.check()
    assert ops(fuse_conv.run(g)) == ["conv2d", "linear", "add", "relu"]


# (input shape, weight shape, stride, padding, groups): each conv path of conv.cpp
KERNEL_SHAPES = {
    "im2col_two_tiles": ((1, 3, 72, 72), (5, 3, 3, 3), (1, 1), (1, 1, 1, 1), 1),
    "im2col_stride2_groups": ((2, 6, 11, 9), (4, 3, 3, 2), (2, 2), (1, 0, 1, 1), 2),
    "pointwise": ((2, 8, 5, 7), (6, 8, 1, 1), (1, 1), (0, 0, 0, 0), 1),
    "depthwise": ((1, 4, 9, 9), (4, 1, 3, 3), (1, 1), (1, 1, 1, 1), 4),
    "shifted_two_bands": ((1, 32, 64, 64), (16, 32, 5, 5), (1, 1), (2, 2, 2, 2), 1),
    "winograd_odd": ((2, 16, 13, 11), (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), 1),
    "winograd_two_blocks_groups": ((1, 64, 64, 64), (64, 32, 3, 3), (1, 1), (1, 1, 1, 1), 2),
}
ACTIVATIONS = {
    "relu": ({}, (0.0, 0.0)),
    "gelu": ({"approximate": "none"}, (0.0, 0.0)),
    "leaky_relu": ({"negative_slope": 0.1}, (0.1, 0.0)),
    "clamp": ({"min": -0.3, "max": 0.4}, (-0.3, 0.4)),
    "sigmoid": ({}, (0.0, 0.0)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("case", list(KERNEL_SHAPES))
def test_kernel_is_bit_identical_to_conv2d_then_the_activation(case, activation, threads):
    x_shape, w_shape, stride, padding, groups = KERNEL_SHAPES[case]
    x, w = (U.tensor(RNG.standard_normal(s).astype(F32)) for s in (x_shape, w_shape))
    b = U.tensor(RNG.standard_normal(w_shape[0]).astype(F32))
    conv_attrs = {"stride": stride, "padding": padding, "dilation": (1, 1), "groups": groups}
    act_attrs, (p0, p1) = ACTIVATIONS[activation]
    before = U.get_num_threads()
    U.set_num_threads(threads)
    try:
        got = call_op(fused_conv2d, x, w, b, activation=activation, p0=p0, p1=p1,
                      **conv_attrs).numpy()
        pre = call_op(lookup("conv2d"), x, w, b, **conv_attrs)
        want = call_op(lookup(activation), pre, **act_attrs).numpy()
    finally:
        U.set_num_threads(before)
    np.testing.assert_array_equal(got, want)
    assert (want != pre.numpy()).any()  # the activation changed something


def test_kernel_rejects_a_two_input_activation_by_name():
    x, w, b = (U.tensor(RNG.standard_normal(s).astype(F32)) for s in ((1, 2, 4, 4),
                                                                      (3, 2, 3, 3), (3,)))
    conv_attrs = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    with pytest.raises(ValueError, match="activation 'add' is not a one-input op"):
        call_op(fused_conv2d, x, w, b, activation="add", p0=0.0, p1=0.0, **conv_attrs)


def test_traced_cnn_training_step_fuses_conv_relu_and_matches_eager():
    """relu's gradient reads relu's output, so both forward convs die at their relu and the
    traced step (forward + backward + SGD) runs fused_conv2d; losses and weights equal an
    eager copy of the model, step by step."""
    def make():
        U.manual_seed(5)
        model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
        return model, U.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

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
    for _ in range(5):
        x = U.tensor(RNG.standard_normal((4, 3, 10, 10)).astype(F32))
        y = U.tensor(RNG.integers(0, 4, 4))
        assert traced(x, y).item() == eager(x, y).item()
    graph = traced._last_rec.compiled.exe.graph
    assert ops(graph).count("fused_conv2d") == 2
    assert "conv2d" not in ops(graph)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
