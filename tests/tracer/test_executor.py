"""The C++ executor through `_core.Plan`: steps over arena, slot and const storage, bounds
checked when a step is added, arrays checked when bound, and no allocation during a run."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer.graph import Graph
from unified.tracer.lower import ARENA, CONST, INPUT, OUTPUT, PARAM, lower

import unified  # noqa: F401  (registers the ops)
from unified import _core
from unified.ops.registry import TensorMeta, lookup

F32 = np.dtype(np.float32)


def _vec(storage, slot, offset, n=4):
    return (storage, slot, offset, "float32", (n,), (1,))


def _plan():
    """out = neg(x + x) * c, through the arena; c is a constant of the plan."""
    plan = _core.Plan(128, [((4,), "float32")], [], [((4,), "float32")])
    c = plan.add_const(np.array([1, 2, 3, 4], F32))
    plan.add_step(lookup("add").kernel_id(), "a = add x, x", [_vec(INPUT, 0, 0)] * 2,
                  [_vec(ARENA, 0, 0)])
    plan.add_step(lookup("neg").kernel_id(), "b = neg a", [_vec(ARENA, 0, 0)],
                  [_vec(ARENA, 0, 64)])
    plan.add_step(lookup("mul").kernel_id(), "out = mul b, c",
                  [_vec(ARENA, 0, 64), _vec(CONST, c, 0)], [_vec(OUTPUT, 0, 0)])
    return plan


def test_a_hand_built_plan_runs_its_steps_in_order():
    plan = _plan()
    assert plan.num_steps == 3 and plan.arena_bytes == 128
    out = np.empty(4, F32)
    plan.run([np.array([1, -2, 3, 0.5], F32)], [], [out])
    np.testing.assert_array_equal(out, np.array([-2, 8, -18, -4], F32))
    assert "0 add <- input0+0:float32(4,) input0+0:float32(4,) -> arena+0" in plan.describe()


def test_runs_make_no_allocation():
    before = _core.executor_allocations()
    plan = _plan()
    assert _core.executor_allocations() == before + 2  # the arena and the constant
    built = _core.executor_allocations()
    out = np.empty(4, F32)
    for _ in range(5):
        plan.run([np.ones(4, F32)], [], [out])
    assert _core.executor_allocations() == built


def test_a_lowered_graph_allocates_only_when_lowered():
    g = Graph("g")
    x = g.add_input("x", TensorMeta((16, 16), F32)).ref()
    h = x
    for name in ("relu", "exp", "neg", "tanh"):
        h = g.add_call(lookup(name), (h,), None).ref()
    g.set_outputs([g.add_call(lookup("sum"), (h,), {"dims": (), "keepdim": 0}).ref()])
    exe = lower(g)
    built = _core.executor_allocations()
    for _ in range(3):
        exe.run([np.ones((16, 16), F32)], [])
    assert _core.executor_allocations() == built


def test_operands_outside_their_storage_are_refused_when_added():
    plan = _core.Plan(64, [((4,), "float32")], [((2,), "float32")], [((4,), "float32")])
    neg = lookup("neg").kernel_id()
    with pytest.raises(ValueError, match=r"spans \[48, 64\) outside arena 0 of 64 bytes|"
                                         r"spans \[56, 72\) outside arena 0 of 64 bytes"):
        plan.add_step(neg, "n", [_vec(INPUT, 0, 0)], [_vec(ARENA, 0, 56)])
    with pytest.raises(ValueError, match="outside param 0 of 8 bytes"):
        plan.add_step(neg, "n", [_vec(PARAM, 0, 0)], [_vec(OUTPUT, 0, 0)])
    with pytest.raises(ValueError, match="reads input slot 3 but the plan has 1"):
        plan.add_step(neg, "n", [_vec(INPUT, 3, 0)], [_vec(OUTPUT, 0, 0)])
    with pytest.raises(ValueError, match="output 0 writes read-only input 0"):
        plan.add_step(neg, "n", [_vec(OUTPUT, 0, 0)], [_vec(INPUT, 0, 0)])
    with pytest.raises(ValueError, match="is int32 but input 0 is float32"):
        plan.add_step(neg, "n", [(INPUT, 0, 0, "int32", (4,), (1,))], [_vec(OUTPUT, 0, 0)])
    with pytest.raises(ValueError, match="no kernel with id -1"):
        plan.add_step(-1, "n", [], [])
    assert plan.num_steps == 0


def test_strided_views_are_bounds_checked_by_their_extent():
    plan = _core.Plan(256, [], [], [((2, 2), "float32")])
    cast = lookup("cast").kernel_id()
    # a (2, 2) view with strides (32, 2) spans elements 0..34: 140 bytes from offset 64
    plan.add_step(cast, "ok", [(ARENA, 0, 64, "float32", (2, 2), (32, 2))],
                  [(OUTPUT, 0, 0, "float32", (2, 2), (2, 1))])
    with pytest.raises(ValueError, match=r"spans \[128, 268\) outside arena"):
        plan.add_step(cast, "bad", [(ARENA, 0, 128, "float32", (2, 2), (32, 2))],
                      [(OUTPUT, 0, 0, "float32", (2, 2), (2, 1))])


def test_run_checks_every_bound_array():
    plan = _plan()
    x, out = np.ones(4, F32), np.empty(4, F32)
    with pytest.raises(ValueError, match="expected 1 output arrays, got 0"):
        plan.run([x], [], [])
    with pytest.raises(ValueError, match="output 0 is read-only"):
        ro = np.empty(4, F32)
        ro.flags.writeable = False
        plan.run([x], [], [ro])
    with pytest.raises(ValueError, match="C-contiguous"):
        plan.run([np.ones(8, F32)[::2]], [], [out])
    with pytest.raises(TypeError, match="is not a numpy array"):
        plan.run([[1.0, 2.0, 3.0, 4.0]], [], [out])
    plan.run([x], [], [out])  # still usable after refusals
    np.testing.assert_array_equal(out, np.array([-2, -4, -6, -8], F32))


def test_profiling_records_one_ordered_interval_per_step():
    import unified as U
    from unified import _core

    @U.trace
    def f(x):
        return (x.exp() @ x.t()).relu().sum()

    x = U.tensor(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    for _ in range(3):
        f(x)
    (rec,) = [v for e in f._cache.values() for v in e.variants]
    plan = rec.compiled.exe.plan
    assert plan.timeline() == []  # off by default
    plan.profiling = True
    expected = f(x).item()
    tl = plan.timeline()
    assert len(tl) == plan.num_steps
    names = [k for k, _, _, _ in tl]
    assert names[0] in _core.kernel_names() and "matmul" in names
    for (_, label, s, e), nxt in zip(tl, tl[1:] + [None]):
        assert 0 <= s <= e and isinstance(label, str) and label
        if nxt is not None:
            assert e <= nxt[2]
    x_np = x.numpy()
    np.testing.assert_allclose(expected, np.maximum(np.exp(x_np) @ x_np.T, 0).sum(), rtol=1e-5)
