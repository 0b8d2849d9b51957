"""Lowered plans against the reference interpreter (eager ops through `apply`), bit for bit:
elementwise chains, matmul + relu, view chains, multi-output ops, writes and constants."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower

import unified  # noqa: F401  (registers the ops)
from unified.ops.registry import TensorMeta, lookup
from unified.tensor import wrap

F32 = np.dtype(np.float32)
RNG = np.random.default_rng(0)


def _meta(*shape, dtype=F32):
    return TensorMeta(tuple(shape), np.dtype(dtype))


def _call(g, name, *refs, **attrs):
    node = g.add_call(lookup(name), tuple(r if isinstance(r, Ref) else r.ref() for r in refs),
                      attrs or None)
    return node.ref() if len(node.metas) == 1 else tuple(node.ref(i)
                                                         for i in range(len(node.metas)))


def _data(meta):
    if np.dtype(meta.dtype) == F32:
        return RNG.standard_normal(meta.shape).astype(F32)
    return RNG.integers(0, 3, meta.shape).astype(meta.dtype)


def check_against_interpreter(g: Graph, runs: int = 2):
    """Run the lowered plan and the interpreter on the same random data; bit-identical."""
    g.check()
    exe = lower(g)
    for _ in range(runs):
        inputs = [_data(n.metas[0]) for n in g.inputs()]
        params = [_data(n.metas[0]) for n in g.params()]
        # the interpreter reads the same input arrays: a few kernels (softmax, batch_norm) sum
        # in an order that depends on the input's address modulo 64
        want_out, want_writes = interpret.run(g, [wrap(a) for a in inputs],
                                              [wrap(p.copy()) for p in params])
        outputs, writes = exe.run(inputs, params)
        assert len(outputs) == len(want_out) and len(writes) == len(want_writes)
        for got, want in zip(outputs + writes, want_out + want_writes):
            want = want.numpy()
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    return exe


def test_elementwise_chain_with_a_constant():
    g = Graph("ew")
    x = g.add_input("x", _meta(5, 7)).ref()
    c = g.add_const(np.float32(1.5)).ref()
    a = _call(g, "mul", x, c)
    b = _call(g, "add", a, x)
    out = _call(g, "tanh", _call(g, "exp", _call(g, "relu", b)))
    g.set_outputs([out, a])
    exe = check_against_interpreter(g)
    assert exe.plan.num_steps == 5


def test_matmul_bias_relu():
    g = Graph("mlp")
    x = g.add_input("x", _meta(8, 16)).ref()
    w = g.add_param("w", _meta(16, 32)).ref()
    b = g.add_param("b", _meta(32)).ref()
    h = _call(g, "relu", _call(g, "add", _call(g, "matmul", x, w), b))
    g.set_outputs([_call(g, "sum", h, dims=(1,), keepdim=0)])
    check_against_interpreter(g)


def test_view_chain_reshape_permute_slice_expand():
    g = Graph("views")
    x = g.add_input("x", _meta(2, 3, 4)).ref()
    a = _call(g, "exp", x)
    p = _call(g, "permute", a, dims=(2, 0, 1))                         # (4, 2, 3)
    s = _call(g, "slice", p, starts=(1, 0, 0), stops=(4, 2, 3), steps=(2, 1, 2), squeeze=())
    r = _call(g, "reshape", s, shape=(-1,))                            # needs a copy
    e = _call(g, "expand", _call(g, "reshape", x, shape=(1, 24)), shape=(3, 24))
    t = _call(g, "add", e, _call(g, "reshape", a, shape=(24,)))
    g.set_outputs([_call(g, "neg", r), t, p])                          # p: a view, copied out
    exe = check_against_interpreter(g)
    assert len(exe.memory.copies) == 1


def test_multi_output_ops_max_pool_topk():
    g = Graph("multi")
    x = g.add_input("x", _meta(2, 3, 8, 8)).ref()
    pooled, idx = _call(g, "max_pool2d", x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0),
                        dilation=(1, 1), ceil_mode=0)
    values, where = _call(g, "topk", _call(g, "reshape", pooled, shape=(6, 16)), k=3, dim=-1,
                          largest=1)
    g.set_outputs([values, where, idx])
    check_against_interpreter(g)


def test_batch_norm_training_updates_running_stats_in_place():
    g = Graph("bn")
    x = g.add_input("x", _meta(4, 3, 5, 5)).ref()
    rm, rv = g.add_param("running_mean", _meta(3)), g.add_param("running_var", _meta(3))
    wt, bias = g.add_param("weight", _meta(3)).ref(), g.add_param("bias", _meta(3)).ref()
    y, mean, var = _call(g, "batch_norm", x, rm.ref(), rv.ref(), wt, bias, training=1, eps=1e-5)
    momentum = g.add_const(np.float32(0.1)).ref()
    keep = g.add_const(np.float32(0.9)).ref()
    for param, stat in ((rm, mean), (rv, var)):
        new = _call(g, "add", _call(g, "mul", param.ref(), keep), _call(g, "mul", stat, momentum))
        g.add_write(param, new)
    g.set_outputs([y])
    check_against_interpreter(g)


def test_a_write_straight_into_the_param_and_one_copied_at_the_end():
    g = Graph("sgd")
    x = g.add_input("x", _meta(6)).ref()
    w, v = g.add_param("w", _meta(6)), g.add_param("v", _meta(6))
    grad = _call(g, "mul", x, w.ref())
    new_w = _call(g, "sub", w.ref(), grad)          # in place over w
    new_v = _call(g, "add", v.ref(), grad)
    g.set_outputs([_call(g, "mul", v.ref(), x)])  # v read after its new value is made
    g.add_write(w, new_w)
    g.add_write(v, new_v)
    exe = check_against_interpreter(g)
    assert exe.memory.homes[new_w] == ("param", 0) and new_v not in exe.memory.homes
    params = [np.ones(6, F32), np.ones(6, F32)]
    _, writes = exe.run([np.full(6, 2.0, F32)], params)
    assert writes[0] is params[0] and writes[1] is params[1]
    np.testing.assert_array_equal(params[0], np.full(6, -1.0, F32))
    np.testing.assert_array_equal(params[1], np.full(6, 3.0, F32))


def test_outputs_that_are_inputs_params_or_repeated_are_copied():
    g = Graph("id")
    x = g.add_input("x", _meta(3)).ref()
    w = g.add_param("w", _meta(3)).ref()
    a = _call(g, "relu", x)
    g.set_outputs([x, w, a, a])
    exe = check_against_interpreter(g)
    inputs = [np.arange(3, dtype=F32)]
    outputs, _ = exe.run(inputs, [np.zeros(3, F32)])
    assert outputs[0] is not inputs[0] and outputs[2] is not outputs[3]


def test_int_and_bool_tensors():
    g = Graph("ints")
    x = g.add_input("x", _meta(4, 5, dtype=np.int64)).ref()
    y = g.add_input("y", _meta(4, 5)).ref()
    idx = _call(g, "argmax", y, dim=1, keepdim=0)
    g.set_outputs([_call(g, "add", x, x), idx, _call(g, "gt", y, _call(g, "neg", y))])
    check_against_interpreter(g)


def test_bad_arrays_name_the_slot():
    g = Graph("bad")
    x = g.add_input("x", _meta(2, 3)).ref()
    g.set_outputs([_call(g, "relu", x)])
    exe = lower(g)
    with pytest.raises(ValueError, match=r"input 0 must be float32\(2, 3\), got float32\(3, 2\)"):
        exe.run([np.zeros((3, 2), F32)], [])
    with pytest.raises(TypeError, match=r"input 0 must be float32\(2, 3\), got int64"):
        exe.run([np.zeros((2, 3), np.int64)], [])
    with pytest.raises(ValueError, match="C-contiguous"):
        exe.run([np.zeros((3, 2), F32).T], [])
    with pytest.raises(ValueError, match="expected 1 input arrays, got 2"):
        exe.run([np.zeros((2, 3), F32)] * 2, [])


def test_a_kernel_error_names_the_step_kernel_and_node():
    g = Graph("gather")
    x = g.add_input("x", _meta(2, 3)).ref()
    i = g.add_input("i", _meta(2, 3, dtype=np.int64)).ref()
    g.set_outputs([_call(g, "gather", x, i, dim=1)])
    exe = lower(g)
    index = np.full((2, 3), 7, np.int64)
    message = r"step 0 \(kernel gather\) %2: f32\[2,3\] = gather %x, %i"
    with pytest.raises(IndexError, match=message):
        exe.run([np.zeros((2, 3), F32), index], [])


def test_outputs_go_into_arrays_the_caller_keeps_when_given():
    g = Graph("keep")
    x = g.add_input("x", _meta(4, 8)).ref()
    a = _call(g, "exp", x)
    g.set_outputs([_call(g, "neg", a), _call(g, "tanh", a)])
    exe = lower(g)
    kept = np.full((4, 8), np.nan, np.float32)
    data = _data(x.meta)
    want, _ = interpret.run(g, [wrap(data)], [])
    for _ in range(2):
        outputs, _ = exe.run([data], [], {1: kept})
        assert outputs[1] is kept and outputs[0] is not kept
        np.testing.assert_array_equal(kept, want[1].numpy())
        np.testing.assert_array_equal(outputs[0], want[0].numpy())
