"""tracer/interpret.py: a hand-built graph run node by node gives eager's results bit for bit
(eager is the oracle), multi-output refs, views, consts, writes, random ops and errors."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from unified.dispatch import observe
from unified.ops.registry import TensorMeta, lookup
from unified.tracer import interpret
from unified.tracer.graph import Graph, SourceLoc


F32 = np.dtype("float32")
RNG = np.random.default_rng(0)


def rand(*shape: int) -> U.Tensor:
    return U.tensor(RNG.standard_normal(shape).astype(np.float32))


def mlp_graph() -> Graph:
    """relu(x @ w + b).sum(dim=1) * 2 with b a const and w a param; writes w <- w - 0.5 * w."""
    g = Graph("mlp")
    x = g.add_input("x", TensorMeta((4, 5), F32))
    w = g.add_param("w", TensorMeta((5, 3), F32))
    b = g.add_const(np.arange(3, dtype=np.float32))
    two = g.add_const(np.float32(2.0))
    half = g.add_const(np.float32(0.5))
    mm = g.add_call(lookup("matmul"), (x.ref(), w.ref()), None)
    add = g.add_call(lookup("add"), (mm.ref(), b.ref()), None)
    relu = g.add_call(lookup("relu"), (add.ref(),), None)
    total = g.add_call(lookup("sum"), (relu.ref(),), {"dims": (1,), "keepdim": False})
    out = g.add_call(lookup("mul"), (total.ref(), two.ref()), None)
    step = g.add_call(lookup("mul"), (w.ref(), half.ref()), None)
    new_w = g.add_call(lookup("sub"), (w.ref(), step.ref()), None)
    g.set_outputs([out.ref(), relu.ref()])
    g.add_write(w, new_w.ref())
    return g


def test_mlp_graph_matches_eager_bit_for_bit():
    g = mlp_graph()
    g.check()
    x, w = rand(4, 5), rand(5, 3)
    w_before = w.numpy().copy()
    (out, relu), (new_w,) = interpret.run(g, [x], [w])
    b = U.tensor(np.arange(3, dtype=np.float32))
    want_relu = (x @ w + b).relu()
    np.testing.assert_array_equal(relu.numpy(), want_relu.numpy())
    np.testing.assert_array_equal(out.numpy(), (want_relu.sum(dim=1) * 2.0).numpy())
    np.testing.assert_array_equal(new_w.numpy(), (w - w * 0.5).numpy())
    np.testing.assert_array_equal(w.numpy(), w_before)  # writes are returned, not applied


def test_multi_output_refs_and_views():
    g = Graph("topk")
    x = g.add_input("x", TensorMeta((3, 6), F32))
    top = g.add_call(lookup("topk"), (x.ref(),), {"k": 2, "dim": 1, "largest": 1})
    flat = g.add_call(lookup("reshape"), (top.ref(0),), {"shape": (6,)})
    g.set_outputs([flat.ref(), top.ref(1)])
    g.check()
    xv = rand(3, 6)
    (flat_v, idx), writes = interpret.run(g, [xv], [])
    values, indices = xv.topk(2)
    assert writes == []
    np.testing.assert_array_equal(flat_v.numpy(), values.reshape(6).numpy())
    np.testing.assert_array_equal(idx.numpy(), indices.numpy())
    assert idx.dtype == np.dtype("int64") and flat_v.shape == (6,)


def test_const_outputs_are_read_only_views_of_the_graph_data():
    g = Graph("c")
    data = np.arange(6, dtype=np.float32)
    c = g.add_const(data)
    view = g.add_call(lookup("reshape"), (c.ref(),), {"shape": (2, 3)})
    g.set_outputs([view.ref()])
    (out,), _ = interpret.run(g, [], [])
    assert out.numpy().tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert not out._data.flags.writeable
    assert data.flags.writeable  # the graph's own array is left as it was


def test_random_op_replays_eager_numbers():
    log = []
    with observe(lambda op, inputs, attrs, out: log.append((op, inputs, attrs, out))):
        eager = U.randn(3, 4)
    (op, (state,), attrs, _), = log  # the generator state (seed, offset) is an input
    g = Graph("rand")
    rng = g.add_input("rng", TensorMeta((2,), np.dtype("int64")))
    node = g.add_call(op, (rng.ref(),), attrs)
    g.set_outputs([node.ref()])
    (out,), _ = interpret.run(g, [state], [])
    np.testing.assert_array_equal(out.numpy(), eager.numpy())


def test_runs_with_grad_recording_off():
    g = mlp_graph()
    w = rand(5, 3).requires_grad_()
    (out, _), (new_w,) = interpret.run(g, [rand(4, 5)], [w])
    assert not out.requires_grad and out.grad_fn is None and new_w.grad_fn is None


def test_wrong_arguments_name_the_node_and_values():
    g = mlp_graph()
    with pytest.raises(ValueError, match=r"graph mlp takes 1 inputs \(%x\), got 2"):
        interpret.run(g, [rand(4, 5), rand(4, 5)], [rand(5, 3)])
    with pytest.raises(ValueError, match=r"param %w expects f32\[5,3\], got float32 of shape "
                                         r"\(3, 5\)"):
        interpret.run(g, [rand(4, 5)], [rand(3, 5)])
    with pytest.raises(TypeError, match="input %x must be a Tensor, got ndarray"):
        interpret.run(g, [np.zeros((4, 5), np.float32)], [rand(5, 3)])


def test_kernel_error_names_the_recorded_line():
    g = Graph("bad")
    x = g.add_input("x", TensorMeta((4, 5), F32))
    # stored metas skip infer at build time, so the bad attrs surface when the node runs
    node = g.add_call(lookup("reshape"), (x.ref(),), {"shape": (7,)},
                      metas=(TensorMeta((7,), F32),),
                      source=SourceLoc("/src/model.py", 12, "forward"))
    g.set_outputs([node.ref()])
    with pytest.raises(ValueError) as info:
        interpret.run(g, [rand(4, 5)], [])
    notes = "\n".join(info.value.__notes__)
    assert "while interpreting %1 = reshape in graph bad (recorded at model.py:12 forward)" \
        in notes
