"""tracer/gpu_replay.py on the fake CUDA device: the lowered steps run over views into one
device arena of the CPU plan's size and give the CPU plan's results (graphs of the tracer
tests, a conv training step); U.trace replays on the device through the replay hook."""

from __future__ import annotations

import random

import numpy as np
import pytest
from unified.tracer import gpu_replay, replay
from unified.tracer.lower import ARENA
from unified.tracer.pipeline import compile as compile_graph

import unified as U
import unified.nn as nn
from tests.gpu.fake_cuda import FakeCudaArray, fake_cuda
from tests.tracer.graphs import random_graph
from tests.tracer.test_fuse import w4_graph


@pytest.fixture
def device():
    with fake_cuda() as backend:
        yield backend


def _compare(graph, inputs, backend, params=()):
    cpu = compile_graph(graph, in_place=False)
    want, _ = cpu.run([np.ascontiguousarray(a) for a in inputs], list(params))
    plan = gpu_replay.GpuPlan(graph, backend)
    got = plan.run([backend.from_host(a) for a in inputs],
                   [backend.from_host(a) for a in params])
    assert plan.lowered.arena_bytes == cpu.lowered.arena_bytes  # the same memory plan
    assert plan.arena.nbytes == max(cpu.lowered.arena_bytes, 1)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is FakeCudaArray
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-6, atol=2e-6)
    return plan


def test_w4_runs_as_one_fused_step_in_the_arena(device):
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    plan = _compare(w4_graph(), [x], device)
    assert [s.op.name for s in plan.lowered.steps] == ["fused_elementwise"]


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_match_the_cpu_plan(device, seed):
    graph = random_graph(random.Random(seed))
    x = np.random.default_rng(seed).standard_normal(graph.inputs()[0].metas[0].shape)
    plan = _compare(graph, [x.astype(np.float32)], device)
    if plan.lowered.arena_bytes:  # intermediates live in the arena, at the plan's offsets
        assert any(o.storage == ARENA for s in plan.lowered.steps for o in s.inputs + s.outputs)


def _traced_training(device_name: str, steps: int = 5):
    U.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).to(device_name)
    opt = U.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @U.trace
    def step(x, y):
        logits = model(x)
        loss = ((logits - y) * (logits - y)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = U.tensor(rng.standard_normal((5, 1, 6, 6)).astype(np.float32)).to(device_name)
        y = U.tensor(rng.standard_normal((5, 3)).astype(np.float32)).to(device_name)
        losses.append(step(x, y))
    return [float(v.cpu().item()) for v in losses], [p.detach().cpu().numpy()
                                                       for p in model.parameters()]


def _hooked_run(original, calls: list):
    """replay.run with the GPU hook (the change proposed for tracer/replay.py)."""
    def run(rec, flat, backend, name):
        if gpu_replay.replay_backend(rec, flat) is not None:
            calls.append(name)
            result = gpu_replay.run(rec, flat)
            assert isinstance(rec.compiled, gpu_replay.GpuPlan)
            return result
        return original(rec, flat, backend, name)

    return run


def test_traced_training_step_on_device_matches_cpu(device, monkeypatch):
    want_losses, want_params = _traced_training("cpu")
    calls: list = []
    monkeypatch.setattr(replay, "run", _hooked_run(replay.run, calls))
    got_losses, got_params = _traced_training("cuda")
    assert calls and set(calls) == {"step"}  # later calls replay on the device
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5, atol=1e-6)
    for g, w in zip(got_params, want_params):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_device_view_reads_offsets_and_strides():
    buffer = np.arange(32, dtype=np.float32)
    from unified.tracer.lower import Operand

    view = gpu_replay.device_view(np, buffer, Operand(ARENA, 0, 8, "float32", (3, 2), (4, 1)))
    np.testing.assert_array_equal(view, [[2, 3], [6, 7], [10, 11]])
    view[0, 0] = -1.0
    assert buffer[2] == -1.0  # a view, not a copy
