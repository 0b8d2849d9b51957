"""check.py: two recordings compared op by op; the TraceError names the first differing op,
what differs (op, attrs, Python constants, shapes, wiring), and the user's source line. Exact
tests on hand-built graphs, then recordings of real functions (record.py)."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import check, record
from unified.tracer.graph import Graph, SourceLoc

import unified as U
from unified.errors import TraceError
from unified.ops import elementwise as E
from unified.ops.registry import TensorMeta

F32_4 = TensorMeta((4,), np.dtype(np.float32))
LINE = SourceLoc("/src/train.py", 30, "step")


def scaled(factor: float, alpha: float = 1.0, op=E.mul) -> Graph:
    """x -> add(op(x, factor), x, alpha)."""
    g = Graph("f")
    x = g.add_input("x", F32_4)
    c = g.add_const(np.array(factor, np.float32))
    y = g.add_call(op, (x.ref(), c.ref()), None, source=LINE)
    z = g.add_call(E.add, (y.ref(), x.ref()), {"alpha": alpha}, source=LINE)
    g.set_outputs([z.ref()])
    return g


def test_equal_graphs_pass():
    assert check.compare(scaled(0.5), scaled(0.5), "f") is None


def test_a_changed_python_constant_is_named_with_both_values_and_the_line():
    with pytest.raises(TraceError) as info:
        check.compare(scaled(0.5), scaled(0.25), "f")
    msg = str(info.value)
    assert msg.startswith("trace(f) check: op #0 differs between two calls: mul at train.py:30 "
                          "step then mul at train.py:30 step\n  constants: {b=0.5} -> {b=0.25}")
    assert "train.py:30" in msg.splitlines()[-1]


def test_a_changed_attr_is_named():
    with pytest.raises(TraceError, match=r"op #1 differs.*\n  attrs: \{alpha=1.0\} -> "
                                         r"\{alpha=-0.1\}"):
        check.compare(scaled(0.5), scaled(0.5, alpha=-0.1))


def test_a_different_op_is_named():
    with pytest.raises(TraceError, match=r"op #0 differs.*\n  op: mul -> div"):
        check.compare(scaled(0.5), scaled(0.5, op=E.div))


def test_an_extra_op_is_reported():
    longer = scaled(0.5)
    out = longer.outputs[0]
    extra = longer.add_call(E.neg, (out,), None, source=SourceLoc("/src/train.py", 31, "step"))
    longer.set_outputs([extra.ref()])
    with pytest.raises(TraceError, match=r"this call dispatches more ops \(2 recorded, 3 now\); "
                                         r"the first extra one is neg at train.py:31 step"):
        check.compare(scaled(0.5), longer)


def test_changed_outputs_are_reported():
    other = scaled(0.5)
    other.set_outputs([other.outputs[0], other.outputs[0].node.inputs[0]])
    with pytest.raises(TraceError, match="function's outputs changed"):
        check.compare(scaled(0.5), other)


def _record(fn, *args):
    flat = [a for a in args if isinstance(a, U.Tensor)]
    return record.record(fn, args, {}, flat, [f"a{i}" for i in range(len(flat))], {},
                         lambda src: None, "f")[1]


def test_recordings_of_a_function_reading_a_changing_python_float():
    state = {"lr": 0.1}
    w = U.tensor([1.0, 2.0])

    def step(x):
        return x * state["lr"] + w  # the changing Python value

    x = U.tensor([1.0, 1.0])
    first = _record(step, x)
    check.compare(first, _record(step, x))  # same value: same ops
    state["lr"] = 0.05
    with pytest.raises(TraceError) as info:
        check.compare(first, _record(step, x), "step")
    msg = str(info.value)
    assert "op #0 differs" in msg and "mul at test_check.py:" in msg
    assert "constants: {b=0.1} -> {b=0.05}" in msg


def test_optimizer_lr_changes_do_not_change_the_recorded_ops():
    """The fused updates read lr from a tensor, so a scheduler step changes no op."""
    w = U.tensor([1.0, -1.0], requires_grad=True)
    opt = U.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = U.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step(x):
        loss = (w * x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    x = U.tensor([2.0, 3.0])
    _record(step, x)  # the first step creates the momentum buffer
    second = _record(step, x)
    sched.step()
    check.compare(second, _record(step, x))


# ---- U.trace(check=True) ---------------------------------------------------------------------
def test_check_mode_raises_at_the_op_reading_a_changed_python_float_with_the_line():
    state = {"scale": 0.5}
    w = U.tensor([1.0, 2.0])

    def step(x):
        return x * state["scale"] + w  # the captured Python float

    traced = U.trace(step, check=True)
    x = U.tensor([2.0, 4.0])
    for _ in range(4):  # two recordings promote the graph; checked calls give eager's results
        assert traced(x).tolist() == [2.0, 4.0]
    state["scale"] = 0.25
    with pytest.raises(TraceError) as info:
        traced(x)
    msg = str(info.value)
    line = step.__code__.co_firstlineno + 1
    assert msg.startswith(f"trace(step) check: op #0 differs between two calls: mul at "
                          f"test_check.py:{line} step then mul at test_check.py:{line} step\n"
                          "  constants: {b=0.5} -> {b=0.25}")
    unchecked = U.trace(step)
    for _ in range(3):
        unchecked(x)
    state["scale"] = 0.125
    assert unchecked(x).tolist() == [1.5, 3.0]  # without check: the recorded 0.25, silently


def test_check_mode_passes_a_train_step_with_dropout_and_matches_eager():
    """Random ops (generator state as an input, compared by position) and tensors created
    in the call (frozen to consts in the variant) do not count as differences."""
    def run(check_mode):
        U.manual_seed(0)
        model = U.nn.Sequential(U.nn.Linear(4, 8), U.nn.Dropout(0.5), U.nn.Linear(8, 2))
        opt = U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x):
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        fn = U.trace(step, check=True) if check_mode else step
        x = U.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
        return [fn(x).item() for _ in range(5)]

    assert run(True) == run(False)


def test_generator_state_inputs_compare_by_position():
    def noisy(x):
        return x + U.randn(3) * U.rand(3)

    x = U.zeros(3)
    check.compare(_record(noisy, x), _record(noisy, x))  # new (seed, offset) values: equal
    described = check._describe(next(_record(noisy, x).graph.calls()), _record(noisy, x).graph,
                                {})
    assert described["inputs"] == [("generator state", 0)]
