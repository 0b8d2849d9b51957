"""Batch-size reuse (tracer/batch.py): a call that changes only dim 0 of tensor arguments
reuses the recorded graph with metas re-inferred (no new recording), each size with its own
plan; a graph that bakes the old batch size (reshape attrs) falls back to recording."""

from __future__ import annotations

import numpy as np
import pytest
from unified.tracer import batch, record
from unified.tracer.graph import Graph

import unified as U
from unified import nn
from unified.ops import shape as S
from unified.ops.registry import TensorMeta


@pytest.fixture
def recordings(monkeypatch):
    """Counts record.record calls (every recording trace.py makes)."""
    count = [0]
    real = record.record

    def counting(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(record, "record", counting)
    return count


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


def _data(sizes):
    rng = np.random.default_rng(3)
    return [(U.tensor(rng.standard_normal((n, 8)).astype(np.float32)),
             U.tensor(rng.integers(0, 3, n))) for n in sizes]


def test_mlp_train_step_at_batch_32_then_16_reuses_the_graph_with_eager_results(recordings):
    sizes = [32, 32, 32, 16, 16, 32, 16, 8]
    data = _data(sizes)
    model, step = _mlp_step()
    want = [step(x, y).item() for x, y in data]
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    model, step = _mlp_step()
    traced = U.trace(step)
    got = [traced(x, y).item() for x, y in data]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for p, w in zip(model.parameters(), weights):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-6, atol=1e-7)
    assert recordings[0] == 3  # at batch 32 only (the first creates the momentum buffers)
    assert len(traced._cache) == 3  # one variant (and plan) per batch size
    shapes = [e.variants[0].graph.inputs()[0].metas[0].shape for e in traced._cache.values()]
    assert shapes == [(32, 8), (16, 8), (8, 8)]
    assert all(type(e.variants[0].compiled).__name__ == "PlanReplay"
               for e in traced._cache.values())


def test_a_reshape_that_bakes_the_batch_size_falls_back_to_recording(recordings):
    w = U.tensor(np.arange(8, dtype=np.float32).reshape(4, 2))

    def f(x):
        return x.reshape(x.shape[0], 4) @ w  # the batch size baked into the reshape attrs

    traced = U.trace(f)
    for _ in range(3):
        traced(U.ones(32, 2, 2))
    assert recordings[0] == 2
    x = U.tensor(np.arange(64, dtype=np.float32).reshape(16, 2, 2))
    want = f(x).numpy()
    for _ in range(3):  # (32, 4) does not infer from 64 elements: recorded like a new shape
        np.testing.assert_array_equal(traced(x).numpy(), want)
    assert want.shape == (16, 2) and recordings[0] == 4
    assert [len(e.variants) for e in traced._cache.values()] == [1, 1]


def test_a_batch_sized_reshape_that_still_infers_is_checked_against_a_recording(recordings):
    def f(x):
        return x.reshape(x.shape[0], -1).sum(dim=1)  # x.shape[0]: baked, 8 -> 4 still infers

    traced = U.trace(f)
    for _ in range(3):
        traced(U.ones(8, 4))
    x = U.tensor(np.arange(16, dtype=np.float32).reshape(4, 4))
    assert traced(x).tolist() == [6.0, 22.0, 38.0, 54.0]  # validated by one recording...
    assert recordings[0] == 3
    for n in (4, 2):  # ...which showed the old size baked: each size records (twice)
        for _ in range(3):
            assert traced(U.ones(n, 4)).tolist() == [4.0] * n
    assert recordings[0] == 3 + 2 + 2 - 1  # batch 4 had one recording already


def test_a_coincidental_batch_size_in_attrs_is_validated_once(recordings):
    def f(x):
        return x.sum(dim=1)  # dims=(1,): the same int as batch size 1 below

    traced = U.trace(f)
    for _ in range(3):
        traced(U.ones(1, 3))
    assert traced(U.ones(4, 3)).tolist() == [3.0] * 4  # validated by one recording
    assert recordings[0] == 3
    assert traced(U.ones(5, 3)).tolist() == [3.0] * 5  # trusted from then on
    assert traced(U.ones(4, 3)).tolist() == [3.0] * 4
    assert recordings[0] == 3


# ---- the pure functions on hand-built graphs and keys ----------------------------------------
F32 = np.dtype(np.float32)


def _key(*shapes, value=1):
    leaves = tuple(("T", s, "<f4", False) for s in shapes) + (("V", "int", value),)
    return (("T",) * len(shapes) + ("V",), leaves, ())


def test_compatible_keys_differ_only_in_dim_0():
    assert batch.compatible(_key((32, 8), (8,)), _key((16, 8), (8,))) == {32}
    assert batch.compatible(_key((32, 8)), _key((32, 8))) is None  # nothing changed
    assert batch.compatible(_key((32, 8)), _key((32, 4))) is None  # a trailing dim
    assert batch.compatible(_key((32, 8)), _key((16, 8), value=2)) is None  # a Python value
    assert batch.compatible(_key(()), _key((1,))) is None  # rank


def _reshape_graph(target):
    g = Graph("f")
    x = g.add_input("x", TensorMeta((6, 2), F32))
    r = g.add_call(S.reshape, (x.ref(),), {"shape": target})
    g.set_outputs([r.ref()])
    return record.Recording(g, [0], [], [], [], ("out", 0), [], [], [], [])


def test_derive_reinfers_metas_or_refuses():
    flat = [U.ones(3, 2)]
    derived = batch.derive(_reshape_graph((-1, 4)), flat)
    assert derived is None  # 6 elements do not reshape to (-1, 4)
    derived = batch.derive(_reshape_graph((-1,)), flat)
    assert [n.metas[0].shape for n in derived.graph.nodes] == [(3, 2), (6,)]
    base = _reshape_graph((6, 2))
    assert batch.baked(base, {6}) and not batch.baked(_reshape_graph((-1,)), {6})
    assert batch.derive(base, flat) is None  # (6, 2) from 3x2 elements: inference fails
