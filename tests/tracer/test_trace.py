"""The trace decorator: forms (decorator, call, Module), the signature cache (shape change
retraces; non-tensor arguments and training flags key it), the retrace warning naming the
changed argument, the two-recordings rule for lazily created state, random ops replayed with
fresh offsets, and in-place writes to arguments."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import RetraceWarning, Traced

import unified as U
from unified import nn


def test_decorator_and_call_forms_give_eager_results():
    @U.trace
    def f(x, y):
        return {"sum": x + y, "pair": (x * y, 3)}

    g = U.trace(strict=True)(lambda x: x.exp())
    assert isinstance(f, Traced) and isinstance(g, Traced)
    a, b = U.tensor([1.0, 2.0]), U.tensor([3.0, 4.0])
    for _ in range(4):
        out = f(a, b)
        assert out["sum"].tolist() == [4.0, 6.0] and out["pair"][0].tolist() == [3.0, 8.0]
        assert out["pair"][1] == 3
        np.testing.assert_allclose(g(a).numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_shape_change_retraces_and_warning_names_the_argument():
    f = U.trace(lambda x: x * 2.0)
    f(U.ones(32, 784))
    f(U.ones(8, 784))
    with pytest.warns(RetraceWarning, match=r"argument 'x' shape changed f32\[8,784\] -> "
                      r"f32\[16,784\]; retracing \(3 cached variants\)"):
        out = f(U.ones(16, 784))
    assert out.shape == (16, 784) and len(f._cache) == 3


def test_non_tensor_argument_is_part_of_the_key():
    f = U.trace(lambda x, k: x * k)
    for _ in range(3):
        assert f(U.tensor([1.0]), 2.0).tolist() == [2.0]
        assert f(U.tensor([1.0]), 3.0).tolist() == [3.0]


def test_training_flag_of_a_traced_module_keys_the_cache():
    U.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    traced = U.trace(model)
    x = U.ones(3, 4)
    model.eval()
    with U.no_grad():
        want = model(x).numpy().copy()
        for _ in range(3):
            np.testing.assert_array_equal(traced(x).numpy(), want)
        model.train()
        assert (traced(x).numpy() == 0).any()  # dropout active: a new graph, not the eval one


def test_random_ops_replay_draw_fresh_numbers_like_eager():
    def noisy(x):
        return x + U.randn(3)

    U.manual_seed(5)
    eager = [noisy(U.zeros(3)).tolist() for _ in range(5)]
    U.manual_seed(5)
    f = U.trace(noisy)
    traced = [f(U.zeros(3)).tolist() for _ in range(5)]
    assert traced == eager
    assert len(set(map(tuple, traced))) == 5


def test_in_place_update_of_an_argument_is_replayed():
    f = U.trace(lambda acc, x: acc.add_(x))
    acc = U.zeros(2)
    for _ in range(4):
        out = f(acc, U.tensor([1.0, 2.0]))
    assert out is acc and acc.tolist() == [4.0, 8.0]


def test_graph_before_first_call_raises():
    f = U.trace(lambda x: x)
    with pytest.raises(RuntimeError, match="no graph yet"):
        _ = f.graph


def _mlp_step():
    U.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = U.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return model, step


def _data():
    rng = np.random.default_rng(1)
    return [(U.tensor(rng.standard_normal((4, 8)).astype(np.float32)),
             U.tensor(rng.integers(0, 3, 4))) for _ in range(6)]


@pytest.mark.parametrize("backend,runner", [("plan", "PlanReplay"), ("interpret", "str")])
def test_replay_runs_the_lowered_plan_by_default_and_the_interpreter_on_request(backend,
                                                                               runner):
    data = _data()
    model, step = _mlp_step()
    want = [step(x, y).item() for x, y in data]
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    model, step = _mlp_step()
    traced = U.trace(step) if backend == "plan" else U.trace(step, backend=backend)
    assert [traced(x, y).item() for x, y in data] == want  # bit for bit
    for p, w in zip(model.parameters(), weights):
        np.testing.assert_array_equal(p.detach().numpy(), w)
    (entry,) = traced._cache.values()
    assert type(entry.variants[0].compiled).__name__ == runner


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        U.trace(lambda x: x, backend="jit")


def test_memory_report_shows_the_plan_and_the_eager_peak():
    model, step = _mlp_step()
    traced = U.trace(step)
    for x, y in _data()[:3]:
        traced(x, y)
    report = traced.memory_report()
    text = str(report)
    assert text.startswith("memory plan for step: arena ")
    assert "eager peak of the same step" in text and "traced: " in text
    params = sum(p.detach().numpy().nbytes for p in model.parameters())
    assert report.state_bytes >= 2 * params  # weights and momentum buffers (+ hyper values)
    assert report.eager_peak_bytes >= 2 * params  # eager holds them too, plus grads
    assert report.traced_bytes == report.arena_bytes + report.state_bytes + report.io_bytes
    assert report.arena_bytes <= report.plan.buffers_bytes


def test_nested_dict_list_tuple_arguments_and_results_and_the_dot_drawing():
    @U.trace
    def f(d, scale):
        return {"a": d["x"] * scale, "b": [d["y"] + 1, (d["x"].sum(),)]}

    x = U.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = U.tensor([1.0, -1.0, 0.5])
    for _ in range(3):
        out = f({"x": x, "y": y}, 2.0)
        np.testing.assert_array_equal(out["a"].numpy(), np.arange(6).reshape(2, 3) * 2.0)
        assert out["b"][0].tolist() == [2.0, 0.0, 1.5] and out["b"][1][0].item() == 15.0
    dot = f.graph.to_dot()
    lines = dot.splitlines()
    assert lines[0] == 'digraph "f" {' and lines[-1] == "}"
    ops = [ln for ln in lines if "[label=" in ln and "shape=oval" not in ln]
    assert len(ops) == len(f.graph.nodes)  # one box per node
    assert sum("return " in ln for ln in lines) == 3  # three returned tensors
    assert sum("->" in ln for ln in lines) == sum(len(n.inputs) for n in f.graph.nodes) + 3
    assert "input %d['x']\\nf32[2,3]" in dot and "mul\\nf32[2,3]" in dot


def test_namedtuple_results_and_arguments_are_traced_not_baked():
    import collections

    Pair = collections.namedtuple("Pair", "a b")

    @U.trace
    def f(x, pair):
        top = x.topk(2)
        return top, pair.a * pair.b

    for i in range(5):
        x = U.tensor(np.array([1.0, 3.0, 2.0]) * (i + 1), dtype=U.float32)
        p = Pair(U.tensor([float(i)]), U.tensor([2.0]))
        top, prod = f(x, p)
        assert type(top).__name__ == "TopK"
        assert top.values.tolist() == [3.0 * (i + 1), 2.0 * (i + 1)]
        assert top.indices.tolist() == [1, 2] and prod.tolist() == [2.0 * i]


def test_training_flags_changed_any_way_key_the_cache():
    """Flags are cached per mode epoch (unified/nn/mode_epoch.py): every way of changing a
    flag or the module tree must still reach the key."""
    U.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))

    @U.trace
    def f(x):
        with U.no_grad():
            return model(x)

    x = U.ones(4, 3)
    model.eval()
    expected = f(x).numpy()
    for _ in range(3):
        np.testing.assert_array_equal(f(x).numpy(), expected)
    model[1].training = True  # plain attribute write: dropout is on again
    assert (f(x).numpy() == 0).mean() > 0.5
    model[1].training = False
    np.testing.assert_array_equal(f(x).numpy(), expected)
    model[1] = nn.Dropout(0.9)  # a new child, in training mode
    assert (f(x).numpy() == 0).mean() > 0.5
    model[1].eval()
    np.testing.assert_array_equal(f(x).numpy(), expected)
