"""tracer/passes/fold_bn.py: an eval-mode batch_norm after a conv2d or linear with const
weights folds into that op's weight and bias. Hand-built graphs check which nodes remain and
which pairs must not fold (the conv output read elsewhere, BN in training mode, param weights,
BN statistics read, linear on 3-D input); values match the unfolded graph (the interpreter is
eager's path) and the lowered plan within float32 rounding; and a traced eval CNN with frozen
weights (params turned into consts) folds every BN and matches the eager model."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower
from unified.tracer.passes import fold_bn

import unified as U
from tests.tracer.graphs import call, meta
from unified import nn

F32 = np.dtype("float32")
RNG = np.random.default_rng(3)
CONV_ATTRS = {"stride": (2, 1), "padding": (1, 1, 1, 0), "dilation": (1, 1), "groups": 2}


def const(g: Graph, *shape: int, kind: str = "normal", name: str | None = None) -> Ref:
    value = (RNG.uniform(0.2, 2.0, shape) if kind == "positive" else RNG.standard_normal(shape))
    return g.add_const(value.astype(F32), name).ref()


def bn_call(g: Graph, x: Ref, channels: int, training: int = 0, affine: bool = True) -> Ref:
    """batch_norm over x's axis 1 with const running stats (var > 0) and gamma, beta; returns
    output 0 (y). affine=False gives BatchNorm's ones/zeros."""
    mean, var = const(g, channels, name="mean"), const(g, channels, kind="positive", name="var")
    if affine:
        gamma, beta = const(g, channels, name="gamma"), const(g, channels, name="beta")
    else:
        gamma = g.add_const(np.ones(channels, F32), "gamma").ref()
        beta = g.add_const(np.zeros(channels, F32), "beta").ref()
    bn = call(g, "batch_norm", x, mean, var, gamma, beta, training=training, eps=1e-3)
    return bn.node.ref(0)


def conv_bn_relu(bias: bool = True, affine: bool = True, training: int = 0) -> Graph:
    """x (2, 4, 9, 7) -> conv2d (6 out, groups 2, const W and b) -> batch_norm -> relu."""
    g = Graph("conv_bn_relu")
    x = g.add_input("x", meta(2, 4, 9, 7))
    w = const(g, 6, 2, 3, 3, name="w")
    b = const(g, 6, name="b") if bias else g.add_const(np.zeros(6, F32), "zero_bias").ref()
    y = bn_call(g, call(g, "conv2d", x, w, b, **CONV_ATTRS), 6, training, affine)
    g.set_outputs([call(g, "relu", y)])
    return g


def linear_bn(in_shape=(8, 5)) -> Graph:
    """x -> linear (3 out, const W and b) -> batch_norm (BatchNorm1d on (N, C))."""
    g = Graph("linear_bn")
    x = g.add_input("x", meta(*in_shape))
    lin = call(g, "linear", x, const(g, 3, 5, name="w"), const(g, 3, name="b"))
    g.set_outputs([bn_call(g, lin, in_shape[1] if len(in_shape) == 3 else 3)])
    return g


def ops(g: Graph) -> list[str]:
    return [n.op.name for n in g.calls()]


def consts(g: Graph) -> list[str]:
    return [n.name for n in g.nodes if n.kind == "const"]


def assert_close_values(g: Graph, folded: Graph) -> None:
    """folded's outputs through the interpreter and the lowered plan equal g's within
    float32 rounding (1e-5 relative to the output's scale)."""
    x = RNG.standard_normal(g.inputs()[0].metas[0].shape).astype(F32)
    (want,), _ = interpret.run(g, [U.tensor(x)], [])
    (got,), _ = interpret.run(folded, [U.tensor(x)], [])
    (planned,), _ = lower(folded).run([x], [])
    scale = np.abs(want.numpy()).max()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_array_equal(planned, got.numpy())


@pytest.mark.parametrize("bias, affine", [(True, True), (False, True), (True, False)])
def test_conv_bn_relu_folds_into_one_conv_with_new_consts(bias, affine):
    g = conv_bn_relu(bias, affine)
    g.check()
    before = str(g)
    folded = fold_bn.run(g)
    folded.check()
    assert str(g) == before  # the caller's graph is untouched
    assert ops(folded) == ["conv2d", "relu"]
    conv = next(folded.calls())
    assert conv.attrs == CONV_ATTRS and conv.meta["folded"] == ["conv2d", "batch_norm"]
    b_name = "b" if bias else "zero_bias"  # the new consts take the removed ones' names
    assert consts(folded) == ["w", b_name]
    assert [r.node.name for r in conv.inputs] == ["x", "w", b_name]
    assert not np.array_equal(conv.inputs[1].node.value, g.nodes[1].value)
    assert_close_values(g, folded)


def test_folded_weights_are_the_float64_formula_rounded_once():
    w, b = RNG.standard_normal((4, 2, 3, 3)), RNG.standard_normal(4)
    mean, var, gamma, beta = RNG.standard_normal(4), RNG.uniform(0.1, 2, 4), *RNG.random((2, 4))
    new_w, new_b = fold_bn.folded_weights(*(a.astype(F32) for a in (w, b, mean, var, gamma,
                                                                    beta)), eps=1e-5)
    f64 = [a.astype(F32).astype(np.float64) for a in (w, b, mean, var, gamma, beta)]
    s = f64[4] / np.sqrt(f64[3] + 1e-5)
    assert new_w.dtype == F32 and new_b.dtype == F32
    np.testing.assert_array_equal(new_w, (f64[0] * s[:, None, None, None]).astype(F32))
    np.testing.assert_array_equal(new_b, ((f64[1] - f64[2]) * s + f64[5]).astype(F32))


def test_linear_batchnorm1d_folds():
    g = linear_bn()
    folded = fold_bn.run(g)
    folded.check()
    assert ops(folded) == ["linear"] and consts(folded) == ["w", "b"]
    assert folded.outputs[0].node is next(folded.calls())
    assert_close_values(g, folded)


def test_linear_on_3d_input_does_not_fold():
    """BN's channel axis 1 of (N, L, C) is L, not linear's output features."""
    g = linear_bn((2, 4, 5))
    g.check()
    assert fold_bn.pairs(g) == []
    assert ops(fold_bn.run(g)) == ["linear", "batch_norm"]


def test_conv_output_read_elsewhere_does_not_fold():
    g = conv_bn_relu()
    conv = next(n for n in g.calls() if n.op.name == "conv2d")
    g.set_outputs(g.outputs + [call(g, "neg", conv)])
    assert ops(fold_bn.run(g)) == ["conv2d", "batch_norm", "relu", "neg"]
    g2 = conv_bn_relu()
    conv2 = next(n for n in g2.calls() if n.op.name == "conv2d")
    g2.set_outputs(g2.outputs + [conv2.ref()])
    assert ops(fold_bn.run(g2)) == ["conv2d", "batch_norm", "relu"]


def test_training_mode_bn_does_not_fold():
    g = conv_bn_relu(training=1)
    assert fold_bn.pairs(g) == []
    assert ops(fold_bn.run(g)) == ["conv2d", "batch_norm", "relu"]


def test_bn_statistics_read_does_not_fold():
    g = conv_bn_relu()
    bn = next(n for n in g.calls() if n.op.name == "batch_norm")
    g.set_outputs(g.outputs + [bn.ref(1)])
    assert ops(fold_bn.run(g)) == ["conv2d", "batch_norm", "relu"]


def test_param_weights_do_not_fold():
    g = Graph("params")
    x = g.add_input("x", meta(2, 4, 9, 7))
    w, b = g.add_param("w", meta(6, 2, 3, 3)), g.add_param("b", meta(6))
    y = bn_call(g, call(g, "conv2d", x, w, b, **CONV_ATTRS), 6)
    g.set_outputs([call(g, "relu", y)])
    assert ops(fold_bn.run(g)) == ["conv2d", "batch_norm", "relu"]
    g2 = Graph("param_stats")  # const conv weights, param running mean
    x = g2.add_input("x", meta(8, 5))
    lin = call(g2, "linear", x, const(g2, 3, 5), const(g2, 3))
    mean = g2.add_param("mean", meta(3))
    bn = call(g2, "batch_norm", lin, mean, const(g2, 3, kind="positive"), const(g2, 3),
              const(g2, 3), training=0, eps=1e-5)
    g2.set_outputs([bn.node.ref(0)])
    assert ops(fold_bn.run(g2)) == ["linear", "batch_norm"]


def test_shared_weight_const_stays_for_its_other_user():
    """Two convs read one weight const; the one followed by BN folds, the other keeps it."""
    g = Graph("shared")
    x = g.add_input("x", meta(2, 4, 9, 7))
    w, b = const(g, 6, 2, 3, 3, name="w"), const(g, 6, name="b")
    y = bn_call(g, call(g, "conv2d", x, w, b, **CONV_ATTRS), 6)
    g.set_outputs([y, call(g, "conv2d", x, w, b, **CONV_ATTRS)])
    folded = fold_bn.run(g)
    folded.check()
    assert ops(folded) == ["conv2d", "conv2d"]
    assert consts(folded) == ["w", "b", "w_folded", "b_folded"]


def _frozen_recording(fn, example: U.Tensor) -> Graph:
    """The traced graph of fn with every param node turned into a const of its value (what
    export/freeze.py's inference_graph does)."""
    traced = U.trace(fn)
    traced(example)
    rec = traced._last_rec
    g = rec.graph.copy()
    for param, array in zip(g.params(), rec.arrays, strict=True):
        c = g.add_const(np.array(array, copy=True), name=param.name, before=param)
        g.replace_uses(param.ref(), c.ref())
        g.remove(param)
    return g


def test_traced_eval_cnn_folds_every_bn_and_matches_eager():
    U.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False),
        nn.BatchNorm2d(8, affine=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6), nn.BatchNorm1d(6))
    for m in model.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(U.tensor(RNG.standard_normal(m.num_features).astype(F32)))
            m.running_var.copy_(U.tensor(RNG.uniform(0.2, 3.0, m.num_features).astype(F32)))
            if m.affine:
                m.weight.data.copy_(U.tensor(RNG.uniform(0.5, 2, m.num_features).astype(F32)))
                m.bias.data.copy_(U.tensor(RNG.standard_normal(m.num_features).astype(F32)))
    model.eval()
    x = U.tensor(RNG.standard_normal((4, 3, 12, 12)).astype(F32))
    with U.no_grad():
        want = model(x).numpy()
        g = _frozen_recording(lambda v: model(v), x)
    folded = fold_bn.run(g)
    folded.check()
    assert "batch_norm" in ops(g) and "batch_norm" not in ops(folded)
    assert ops(folded).count("conv2d") == 2 and ops(folded).count("linear") == 1
    (got,), _ = interpret.run(folded, [x], [])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
