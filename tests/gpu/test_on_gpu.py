"""On a real CUDA GPU (marked `gpu`: skipped elsewhere with the reason): the op table through
CuPy against the CPU kernels, generated fused kernels against the CPU fused engine, and a
traced step replayed in one device arena. The same logic runs on every machine with the fake
device (test_ops_on_device.py, test_gpu_replay.py); this file checks CuPy itself."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from tests.gpu.op_device import check_forward_on_device, check_grad_on_device
from tests.gpu.test_codegen_cuda import _single_op_programs
from tests.gpu.test_ops_on_device import _FORWARD_XFAIL, _GRAD_XFAIL, CASES, GRAD_CASES, _params

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("case", _params(CASES, _FORWARD_XFAIL))
def test_forward_on_gpu_matches_cpu(case):
    check_forward_on_device(case)


@pytest.mark.parametrize("case", _params(GRAD_CASES, _GRAD_XFAIL))
def test_gradient_on_gpu_matches_cpu(case):
    check_grad_on_device(case)


@pytest.mark.parametrize("index", range(len(_single_op_programs())))
def test_generated_kernel_matches_the_cpu_fused_engine(index, tmp_path):
    import cupy
    from unified.tracer import codegen_cuda as cg

    from unified.dispatch import apply
    from unified.ops.fused import fused_elementwise

    attrs, kinds = _single_op_programs()[index]
    rng = np.random.default_rng(index)
    host = [np.asarray(rng.uniform(0.2, 2.0, () if k == "scalar" else (3, 1000)), np.float32)
            for k in kinds]
    if all(k == "scalar" for k in kinds):
        pytest.skip("no direct input")
    want = apply(fused_elementwise, tuple(U.tensor(a) for a in host), attrs).numpy()
    kernel = cg.FusedKernel(cupy, attrs, kinds, cache_dir=tmp_path)
    out = cupy.empty(want.shape, cupy.float32)
    kernel(cupy, [cupy.asarray(a) for a in host], out)
    np.testing.assert_allclose(cupy.asnumpy(out), want, rtol=2e-6, atol=1e-6)


def test_traced_w4_runs_one_generated_kernel_in_the_arena(monkeypatch):
    from unified.tracer import gpu_replay, replay

    original = replay.run

    def run(rec, flat, backend, name):  # the hook proposed for tracer/replay.py
        if gpu_replay.replay_backend(rec, flat) is not None:
            return gpu_replay.run(rec, flat)
        return original(rec, flat, backend, name)

    monkeypatch.setattr(replay, "run", run)

    def f(x):
        y = x * 1.7 + 0.3
        return 0.5 * y * (1.0 + U.tanh(0.7978845608 * (y + 0.044715 * y * y * y))) * U.sigmoid(x)

    data = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    traced = U.trace(f)
    x = U.tensor(data).cuda()
    for _ in range(3):
        got = traced(x)
    assert got.device == "cuda"
    np.testing.assert_allclose(got.cpu().numpy(), f(U.tensor(data)).numpy(), rtol=1e-5,
                               atol=1e-6)
    plan = traced._last_rec.compiled
    assert isinstance(plan, gpu_replay.GpuPlan)
    assert [s.op.name for s in plan.lowered.steps] == ["fused_elementwise"]
    assert plan.kernels  # the generated CUDA kernel, not the xp program
