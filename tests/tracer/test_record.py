"""record.py: what one recorded call becomes: arguments as inputs, captured state as params,
Python scalars as consts, in-place updates of state as writes, new .grad tensors as outputs,
random ops with offsets relative to the generator, and the cases it refuses."""

from __future__ import annotations

import numpy as np
from unified.tracer import record

import unified as U


def run(fn, *args, names=None):
    flat = [a for a in args if isinstance(a, U.Tensor)]
    arg_names = [f"a{i}" for i in range(len(flat))]
    return record.record(fn, args, {}, flat, arg_names, names or {}, lambda src: None, "f")


def test_arguments_state_and_scalars_become_inputs_params_and_consts():
    w = U.tensor([[1.0, 2.0], [3.0, 4.0]])
    result, rec = run(lambda x: x @ w + 1.5, U.tensor([[1.0, 1.0]]), names={id(w._data): "w"})
    kinds = [(n.kind, n.name) for n in rec.graph.nodes if n.kind != "call"]
    assert kinds == [("input", "a0"), ("param", "w"), ("const", "3")]
    assert [n.op.name for n in rec.graph.calls()] == ["matmul", "add"]
    assert rec.state == [w] and rec.graph.outputs == [rec.graph.nodes[-1].ref()]
    assert result.tolist() == [[5.5, 7.5]]
    assert "test_record.py" in str(rec.graph.nodes[2].source)


def test_in_place_update_of_state_is_a_write_and_grads_are_outputs():
    w = U.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        with U.no_grad():
            w.add_(w.grad, alpha=-0.1)
        return loss

    _, rec = run(step, U.tensor([3.0, 4.0]))
    (param, new), = rec.graph.writes
    assert param.kind == "param" and new.node.op.name == "add"
    assert new.node.attrs == {"alpha": -0.1}
    (owner, index), = rec.grads
    assert owner is w and rec.graph.outputs[index].meta.shape == (2,)
    np.testing.assert_allclose(w.tolist(), [1.0 - 0.3, 2.0 - 0.4], rtol=1e-6)


def test_random_ops_record_offsets_relative_to_the_generator():
    U.manual_seed(3)
    U.randn(7)  # the call starts at offset 7
    _, rec = run(lambda: (U.rand(4), U.randn(2)))
    assert [rel for _, rel in rec.rng] == [0, 4] and rec.rng_advance == 6
    # the generator state is a graph input of each random op (not an attr, not a param)
    assert [(n.kind, n.name, n.metas[0].shape) for n, _ in rec.rng] == [
        ("input", "rng0", (2,)), ("input", "rng1", (2,))]
    assert [n.users[0].op.name for n, _ in rec.rng] == ["uniform", "normal"]
    assert rec.input_positions == [None, None] and rec.state == []


def test_guard_records_the_value_and_the_line():
    _, rec = run(lambda x: float(x.sum()), U.tensor([1.0, 2.0]))
    (guard,) = rec.guards
    assert guard.kind == "item" and guard.python_value() == 3.0
    assert guard.ref.node.op.name == "sum" and rec.out_spec == ("py", 3.0)


def test_write_through_a_view_of_state_is_untraceable():
    base = U.zeros(2, 2)

    def f(x):
        base.reshape(4).add_(x)
        return base.sum()

    _, rec = run(f, U.ones(4))
    assert rec.untraceable is not None and "view" in rec.untraceable


def test_fingerprint_matches_repeated_recordings_and_freezes_fresh_tensors():
    w = U.tensor([2.0])

    def f(x):
        return x * w + U.tensor([1.0])  # U.tensor: a new tensor on every call

    x = U.tensor([3.0])
    _, first = run(f, x)
    _, second = run(f, x)
    assert record.difference(first, second) is None
    record.freeze_fresh_state(first, second)
    assert [n.kind for n in second.graph.nodes if n.kind != "call"] == ["input", "param",
                                                                        "const"]
    assert second.state == [w]
