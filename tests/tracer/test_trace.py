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
