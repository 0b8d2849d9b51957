"""tracer/passes/fuse.py and the fused-elementwise engine (core_cpp/kernels/fused.cpp) on
hand-built graphs: which nodes fuse (chains, shared intermediates, 0-d inputs), which stop a
group (values read outside it, graph outputs, broadcasting, int ops, input and register
limits), the printed program, and outputs BIT-IDENTICAL to the unfused graph, through the
interpreter and through the lowered plan, for every fusable op."""

from __future__ import annotations

import math

import numpy as np
import pytest
from unified.tracer import interpret
from unified.tracer.graph import Graph, Ref
from unified.tracer.lower import lower
from unified.tracer.passes import fuse

import unified as U
from unified import _core
from unified.functional import call_op
from unified.ops import OPS
from unified.ops.fused import fused_elementwise
from unified.ops.registry import TensorMeta, lookup

F32 = np.dtype("float32")
RNG = np.random.default_rng(4)


def meta(*shape: int) -> TensorMeta:
    return TensorMeta(shape, F32)


def call(g: Graph, name: str, *refs, **attrs) -> Ref:
    refs = tuple(r if isinstance(r, Ref) else r.ref() for r in refs)
    return g.add_call(lookup(name), refs, attrs or None).ref()


def const(g: Graph, value: float) -> Ref:
    return g.add_const(np.float32(value)).ref()


def calls(g: Graph) -> list[str]:
    return [n.op.name for n in g.calls()]


def assert_same_values(g: Graph, inputs: list[np.ndarray], params=()) -> Graph:
    """fuse.run(g) checks, and gives bit-identical outputs and writes through the interpreter
    and through the lowered plan."""
    g.check()
    fused = fuse.run(g)
    fused.check()
    args = ([U.tensor(a) for a in inputs], [U.tensor(p.copy()) for p in params])
    outs0, writes0 = interpret.run(g, *args)
    outs1, writes1 = interpret.run(fused, *args)
    want = [t.numpy() for t in outs0 + writes0]
    for a, b in zip(want, [t.numpy() for t in outs1 + writes1], strict=True):
        np.testing.assert_array_equal(a, b)
    plan_outs, plan_writes = lower(fused).run(inputs, [p.copy() for p in params])
    for a, b in zip(want, plan_outs + plan_writes, strict=True):
        np.testing.assert_array_equal(a, b)
    return fused


def w4_graph(n: int = 1000) -> Graph:
    """f(x) = gelu_tanh(x*1.7 + 0.3) * sigmoid(x), gelu from primitive ops (y read 3 times)."""
    g = Graph("w4")
    x = g.add_input("x", meta(n))
    y = call(g, "add", call(g, "mul", x, const(g, 1.7)), const(g, 0.3))
    inner = call(g, "mul", const(g, 0.7978845608),
                 call(g, "add", y, call(g, "mul", const(g, 0.044715),
                                        call(g, "pow", y, const(g, 3.0)))))
    gelu = call(g, "mul", call(g, "mul", const(g, 0.5), y),
                call(g, "add", const(g, 1.0), call(g, "tanh", inner)))
    g.set_outputs([call(g, "mul", gelu, call(g, "sigmoid", x))])
    return g


def test_fusable_ops_are_exactly_the_ops_with_fuse_params():
    declared = {name for name, op in OPS.items() if op.fuse_params is not None}
    assert declared == set(_core.fusable_ops())
    assert len(declared) == 31


W4_PROGRAM = """\
r0 = %x
r1 = %1
r2 = %3
r3 = %7
r4 = %6
r5 = %5
r6 = %12
r7 = %14
r8 = mul r0, r1
r9 = add r8, r2 alpha=1.0
r8 = pow r9, r3
r10 = mul r4, r8
r8 = add r9, r10 alpha=1.0
r10 = mul r5, r8
r8 = mul r6, r9
r9 = tanh r10
r10 = add r7, r9 alpha=1.0
r9 = mul r8, r10
r8 = sigmoid r0
r10 = mul r9, r8"""


def test_w4_fuses_into_one_call_with_shared_intermediates():
    g = w4_graph()
    before = str(g)
    fused = assert_same_values(g, [RNG.standard_normal(1000).astype(F32)])
    assert str(g) == before  # the caller's graph is untouched
    assert calls(g).count("mul") == 6 and len(calls(g)) == 12
    assert calls(fused) == ["fused_elementwise"]
    node = next(fused.calls())
    assert node.meta["fused"] == calls(g)
    assert node.source == g.outputs[0].node.source
    assert "\n".join(fuse.program_text(node)) == W4_PROGRAM
    assert node.attrs["num_regs"] == 11
    assert str(fused).splitlines()[-2] == f"  return %{node.name}"


def test_fusion_is_idempotent():
    once = fuse.run(w4_graph())
    assert str(fuse.run(once)) == str(once)


def test_a_value_read_outside_the_group_ends_it():
    g = Graph("split")
    x = g.add_input("x", meta(4, 3))
    a = call(g, "exp", x)
    b = call(g, "mul", a, x)  # read by c and by sum: b is a group output
    c = call(g, "tanh", b)
    d = call(g, "add", c, x)
    s = call(g, "sum", b, dims=(1,), keepdim=False)
    e = call(g, "neg", d)  # d is a graph output too: e starts its own group
    g.set_outputs([d, s, e])
    fused = assert_same_values(g, [RNG.standard_normal((4, 3)).astype(F32)])
    assert calls(fused) == ["fused_elementwise", "fused_elementwise", "sum", "neg"]
    groups = [n.meta.get("fused") for n in fused.calls()]
    assert groups == [["exp", "mul"], ["tanh", "add"], None, None]


def test_broadcasting_and_int_ops_end_a_group_but_0d_inputs_join():
    g = Graph("shapes")
    x = g.add_input("x", meta(3, 4))
    col = g.add_input("col", meta(3, 1))
    a = call(g, "mul", x, const(g, 2.0))
    b = call(g, "add", a, col)  # broadcasts (3,1): not fusable, so a group ends at a
    c = call(g, "relu", b)
    mask = call(g, "gt", c, const(g, 0.5))  # bool output: not fusable
    d = call(g, "where", mask, c, x)
    e = call(g, "sigmoid", call(g, "sqrt", call(g, "abs", d)))
    g.set_outputs([e])
    fused = assert_same_values(g, [RNG.standard_normal((3, 4)).astype(F32),
                                   RNG.standard_normal((3, 1)).astype(F32)])
    assert calls(fused) == ["mul", "add", "relu", "gt", "where", "fused_elementwise"]
    assert list(fused.calls())[-1].meta["fused"] == ["abs", "sqrt", "sigmoid"]


def test_attrs_become_params_including_defaults_nan_and_string_maps():
    g = Graph("params")
    x = g.add_input("x", meta(64))
    y = g.add_input("y", meta(64))
    a = call(g, "add", x, y, alpha=2.5)
    b = call(g, "sub", a, y, alpha=-0.75)
    c = call(g, "leaky_relu", b, negative_slope=0.2)
    d = call(g, "clamp", c, min=-0.5, max=math.nan)
    e = call(g, "softplus", d, beta=2.0, threshold=1.0)
    f = call(g, "gelu", e)  # approximate defaults to "none" -> 0.0
    h = call(g, "gelu", f, approximate="tanh")
    g.set_outputs([h])
    fused = assert_same_values(g, [RNG.standard_normal(64).astype(F32) * 3 for _ in range(2)])
    lines = fuse.program_text(next(fused.calls()))[2:]
    assert lines == ["r2 = add r0, r1 alpha=2.5", "r3 = sub r2, r1 alpha=-0.75",
                     "r2 = leaky_relu r3 negative_slope=0.2", "r3 = clamp r2 min=-0.5 max=nan",
                     "r2 = softplus r3 beta=2.0 threshold=1.0", "r3 = gelu r2 approximate=0.0",
                     "r2 = gelu r3 approximate=1.0"]
    assert fuse.fuse_values(lookup("clamp"), {}) == (pytest.approx(math.nan, nan_ok=True),) * 2


def _data_for(name: str) -> np.ndarray:
    if name in ("log", "sqrt", "rsqrt", "pow"):
        return RNG.uniform(0.1, 3.0, 257).astype(F32)
    return (RNG.standard_normal(257) * 2).astype(F32)


@pytest.mark.parametrize("name", sorted(_core.fusable_ops()))
def test_every_fusable_op_is_bit_identical_fused(name):
    op = lookup(name)
    g = Graph(name)
    x = g.add_input("x", meta(257))
    y = g.add_input("y", meta(257))
    pre = call(g, "mul", x, const(g, 1.25))  # a fused producer and consumer around the op
    first = call(g, name, pre, y) if len(op.inputs) == 2 else call(g, name, pre)
    g.set_outputs([call(g, "add", first, x)])
    fused = assert_same_values(g, [_data_for(name), _data_for(name)])
    assert calls(fused) == ["fused_elementwise"]


def test_fusion_inside_a_graph_with_writes():
    g = Graph("step")
    grad = g.add_input("grad", meta(50))
    w = g.add_param("w", meta(50))
    m = g.add_param("m", meta(50))
    m_new = call(g, "add", call(g, "mul", m, const(g, 0.9)), grad)
    w_new = call(g, "sub", w, call(g, "mul", m_new, const(g, 0.01)))
    g.add_write(m, m_new)
    g.add_write(w, w_new)
    g.set_outputs([])
    fused = assert_same_values(g, [RNG.standard_normal(50).astype(F32)],
                               [RNG.standard_normal(50).astype(F32) for _ in range(2)])
    # m_new is written, so it is a group output read by the second group
    assert [n.meta["fused"] for n in fused.calls()] == [["mul", "add"], ["mul", "sub"]]


def test_groups_stay_within_the_input_limit():
    g = Graph("wide")
    xs = [g.add_input(f"x{k}", meta(8)) for k in range(20)]
    total = call(g, "add", xs[0], xs[1])
    for x in xs[2:]:
        total = call(g, "add", total, x)
    g.set_outputs([total])
    fused = assert_same_values(g, [RNG.standard_normal(8).astype(F32) for _ in range(20)])
    sizes = [len(n.inputs) for n in fused.calls()]
    assert sizes == [5, 16] and all(n.op is fused_elementwise for n in fused.calls())


def test_a_group_past_the_register_limit_stays_unfused(monkeypatch):
    monkeypatch.setattr(fuse, "MAX_REGS", 2)  # the chain needs 3: r0 = x, then r1, r2
    g = Graph("regs")
    x = g.add_input("x", meta(8))
    g.set_outputs([call(g, "neg", call(g, "exp", call(g, "mul", x, x)))])
    assert calls(fuse.run(g)) == ["mul", "exp", "neg"]


def test_kernel_reads_0d_and_strided_inputs():
    x = U.tensor(RNG.standard_normal((40, 30)).astype(F32)).T  # not contiguous
    s = U.tensor(np.float32(0.5))
    prog = {"ops": "mul tanh", "regs": (2, 0, 1, 3, 2, -1), "params": (0.0,) * 4, "num_regs": 4}
    got = call_op(fused_elementwise, x, s, **prog).numpy()
    np.testing.assert_array_equal(got, U.tanh(x * s).numpy())
    assert got.shape == (30, 40)


@pytest.mark.parametrize("prog, message", [
    ({"ops": "mul frob", "regs": (2, 0, 1, 3, 2, -1)}, "instruction 1: unknown op 'frob'"),
    ({"ops": "mul", "regs": (1, 0, 1)}, r"instruction 0 \(mul\): registers dst=1 a=0 b=1"),
    ({"ops": "tanh", "regs": (2, 0, 1)}, r"instruction 0 \(tanh\): registers dst=2 a=0 b=1"),
    ({"ops": "tanh", "regs": (2, 3, -1)}, r"registers dst=2 a=3 b=-1"),  # r3 holds no value
    ({"ops": "tanh", "regs": (2, 0)}, "1 ops need 3 regs and 2 params, got 2 and 2"),
    ({"ops": "tanh", "regs": (2, 0, -1), "num_regs": 33}, r"num_regs=33 must be in \[num_inputs"),
    ({"ops": "", "regs": ()}, "empty program"),
])
def test_bad_programs_give_errors_that_name_them(prog, message):
    x = U.tensor(np.ones(4, F32))
    n = len(prog["ops"].split())
    attrs = {"params": (0.0,) * 2 * n, "num_regs": 4, **prog}
    with pytest.raises(ValueError, match=message):
        call_op(fused_elementwise, x, x, **attrs)


def test_inputs_of_other_shapes_are_refused():
    with pytest.raises(U.ShapeError, match=r"one shape or be 0-d, got \(4,\), \(3,\)"):
        call_op(fused_elementwise, U.tensor(np.ones(4, F32)), U.tensor(np.ones(3, F32)),
                ops="add", regs=(2, 0, 1), params=(1.0, 0.0), num_regs=3)
