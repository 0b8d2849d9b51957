"""Traced memory: parameter gradients live in persistent buffers reused by every replay (p.grad
stays the same tensor, values equal eager's every step), gradients the caller also receives
are not shared, and plot_memory writes a PNG (or names `pip install matplotlib`)."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
from unified.tracer import replay

import unified as U
from unified import nn
from unified.tensor import version_counter

F = nn.functional


def _setup(seed=0):
    U.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt


def _step(model, opt):
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def _data(n=6):
    rng = np.random.default_rng(1)
    return [(U.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
             U.tensor(rng.integers(0, 3, 5).astype(np.int64))) for _ in range(n)]


def test_replayed_grads_reuse_one_buffer_per_parameter_and_match_eager():
    m_e, o_e = _setup()
    m_t, o_t = _setup()
    eager, traced = _step(m_e, o_e), U.trace(_step(m_t, o_t))
    seen = []
    for x, y in _data():
        assert traced(x, y).item() == eager(x, y).item()
        for pe, pt in zip(m_e.parameters(), m_t.parameters()):
            np.testing.assert_array_equal(pt.grad.numpy(), pe.grad.numpy())
            np.testing.assert_array_equal(pt.detach().numpy(), pe.detach().numpy())
        seen.append([(p.grad, p.grad._data) for p in m_t.parameters()])
    (rec,) = [v for e in traced._cache.values() for v in e.variants]
    runner = rec.compiled
    assert isinstance(runner, replay.PlanReplay) and len(runner.grad_outputs) == 4
    # calls 0-2 record (momentum buffers appear in call 0); every replay (calls 3-5) keeps
    # the gradients of the last recorded call, same tensors and arrays: the first replay
    # adopted them as its buffers instead of allocating new ones
    assert all(g is not g1 for (g, _), (g1, _) in zip(seen[2], seen[1]))
    for later in seen[3:]:
        assert all(g is g0 and a is a0 for (g, a), (g0, a0) in zip(later, seen[2]))
    v = version_counter(seen[-1][0][0])[0]
    traced(*_data(1)[0])
    assert version_counter(seen[-1][0][0])[0] == v + 1


def test_a_grad_that_is_also_returned_gets_a_new_array_per_call():
    model, opt = _setup()
    w = model[0].weight

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss, w.grad

    traced = U.trace(step)
    got = [traced(x, y)[1] for x, y in _data()]
    assert len({id(g._data) for g in got}) == len(got)
    assert all(g is not h for g, h in itertools.pairwise(got))


def test_grads_with_guards_are_not_persistent():
    model, opt = _setup()

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if bool(loss > -1.0):  # a value read: the variant has a guard
            opt.step()
        return loss

    traced = U.trace(step)
    grads = []
    for x, y in _data():
        traced(x, y)
        grads.append(model[0].weight.grad)
    (rec,) = [v for e in traced._cache.values() for v in e.variants]
    assert rec.guards and isinstance(rec.compiled, replay.PlanReplay)
    assert rec.compiled.grad_outputs == []
    assert all(g is not h for g, h in itertools.pairwise(grads))


def _traced_chain():
    f = U.trace(lambda x: (x * 2.0 + 1.0).exp().tanh())
    for _ in range(3):
        f(U.tensor(np.ones((64, 64), np.float32)))
    return f


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="matplotlib is optional")
def test_plot_memory_writes_a_png(tmp_path):
    path = tmp_path / "plan.png"
    assert _traced_chain().plot_memory(path) == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_memory_without_matplotlib_names_the_install(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args, **kwargs)

    f = _traced_chain()
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        f.plot_memory(tmp_path / "plan.png")
    assert not (tmp_path / "plan.png").exists()


def test_each_calls_own_argument_gets_its_grad_on_replay():
    # the recording's argument tensors are not the ones a replay is called with: .grad must go
    # to this call's argument (a bug once left it on the first call's tensor)
    U.manual_seed(3)
    w = U.randn(4, requires_grad=True)

    def step(x):
        loss = (x * x * w).sum()
        loss.backward()
        return loss

    traced = U.trace(step)
    for k in range(5):
        x_np = np.random.default_rng(k).standard_normal(4).astype(np.float32)
        x = U.tensor(x_np, requires_grad=True)
        w.grad = None
        traced(x)
        assert x.grad is not None, f"call {k}: x.grad is None"
        np.testing.assert_allclose(x.grad.numpy(), 2 * x_np * w.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(w.grad.numpy(), x_np * x_np, rtol=1e-6)
