"""The device model (unified/devices.py, unified/cuda, Tensor.to/.cuda/.cpu, Module.to, creation
with device=) on the fake CUDA device, and the errors: no CuPy, no GPU, mixed devices."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import unified as U
import unified.cuda
import unified.nn as nn
from tests.gpu.fake_cuda import FakeCudaArray, fake_cuda
from unified.devices import CPU, DeviceError, device


@pytest.fixture
def cuda():
    with fake_cuda() as backend:
        yield backend


def test_devices_compare_with_strings_and_print_torch_style():
    assert device("cuda:0") == "cuda" and device("cuda") == "cuda:0" and CPU == "cpu"
    assert device("cuda:1") != "cuda:0" and device("cpu") != "cuda"
    assert str(device("cuda", 0)) == "cuda:0" and repr(CPU) == "device(type='cpu')"
    assert U.zeros(2).device == "cpu" and {device("cuda:0"), device("cuda")} == {device("cuda")}
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        device("tpu")


def test_without_cupy_cuda_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert not unified.cuda.is_available() and unified.cuda.device_count() == 0
    with pytest.raises(DeviceError, match=r"pip install unified\[gpu\]"):
        U.zeros(2, device="cuda")
    with pytest.raises(DeviceError, match="CuPy is not installed"):
        U.ones(2).cuda()


def test_without_a_gpu_cuda_gives_cupys_reason():
    pytest.importorskip("cupy")
    if unified.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="device 'cuda' is not available: CuPy .* GPU"):
        U.zeros(2).to("cuda")
    with pytest.raises(DeviceError):
        unified.cuda.synchronize()


def test_to_cuda_and_back_copies_values_and_keeps_leaves(cuda):
    x = U.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and type(y._data) is FakeCudaArray
    assert y.requires_grad and y.is_leaf and y.cuda() is y
    assert y.cpu().device == "cpu" and y.cpu().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert y.to("cuda", U.int64).dtype == U.int64 and y.to(device="cpu").device == "cpu"
    assert "device='cuda:0'" in repr(y)
    with pytest.raises(TypeError, match="can't convert a cuda:0 tensor to numpy"):
        y.detach().numpy()
    loss = (y * y).sum()
    assert loss.cpu().item() == 30.0 and not loss.cpu().requires_grad  # a detached copy


def test_creation_functions_take_a_device(cuda):
    for t in (U.zeros(2, 3, device="cuda"), U.ones(2, device="cuda"), U.full((2,), 7.0,
              device="cuda"), U.arange(4, device="cuda"), U.eye(3, device="cuda"),
              U.tensor([1, 2], device="cuda"), U.linspace(0, 1, 5, device="cuda")):
        assert t.device == "cuda"
    z = U.zeros_like(U.ones(3, device="cuda"))
    assert z.device == "cuda" and z.tolist() == [0.0, 0.0, 0.0]
    assert U.tensor(U.ones(2, device="cuda")).device == "cuda"
    assert U.tensor(U.ones(2, device="cuda"), device="cpu").device == "cpu"


def test_mixed_devices_are_an_error_naming_both_and_the_op(cuda):
    a, b = U.ones(3, device="cuda"), U.ones(3)
    with pytest.raises(DeviceError, match=r"mul: input 1 \(b\) is on cpu .* input 0 is on "
                                          r"cuda:0") as info:
        a * b
    assert "test_device.py" in str(info.value)  # the user's line
    with pytest.raises(DeviceError, match=r"matmul: input 0 \(a\) is on cpu"):
        U.ones(2, 3) @ U.ones(3, 2, device="cuda")
    with pytest.raises(DeviceError, match="where: input 2"):
        U.where(U.ones(3, device="cuda") > 0, 1.0, U.ones(3))


def test_scalars_and_zero_bias_mix_with_the_device(cuda):
    x = U.tensor([1.0, -2.0]).cuda()
    assert (2.0 * x + 1.0).device == "cuda" and (x * U.tensor(3.0)).tolist() == [3.0, -6.0]
    w = U.ones(4, 2, device="cuda")
    y = nn.functional.linear(x, w)  # no bias: the shared CPU zero vector
    assert y.device == "cuda" and y.tolist() == [-1.0] * 4


def test_in_place_ops_and_views_write_device_memory(cuda):
    x = U.zeros(2, 3, device="cuda")
    row = x[1]
    row.add_(1.0)
    x[0, 1] = 5.0
    x.relu_()
    assert x.tolist() == [[0.0, 5.0, 0.0], [1.0, 1.0, 1.0]] and type(x._data) is FakeCudaArray
    x.zero_()
    assert x.tolist() == [[0.0] * 3] * 2


def test_module_to_moves_parameters_in_place_and_trains_like_the_cpu(cuda):
    def train(dev, opt_cls, **kw):
        U.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        params = list(model.parameters())
        assert model.to(dev) is model and list(model.parameters()) == params
        opt = opt_cls(model.parameters(), **kw)
        x = U.tensor(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)).to(dev)
        for _ in range(3):
            loss = (model(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert all(p.device == dev for p in model.parameters())
        return [p.detach().cpu().tolist() for p in model.parameters()]

    for opt_cls, kw in ((U.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                        (U.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
                        (U.optim.AdamW, {"lr": 0.01})):
        want, got = train("cpu", opt_cls, **kw), train("cuda", opt_cls, **kw)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_cuda_namespace_on_the_fake_device(cuda):
    assert unified.cuda.is_available() and unified.cuda.device_count() == 1
    unified.cuda.synchronize()
    assert unified.cuda.current_device() == 0
    assert unified.cuda.get_device_name() == "FakeCudaBackend"


def test_random_ops_draw_the_cpu_stream_on_the_device(cuda):
    from unified.dispatch import apply
    from unified.ops import random as ops
    from unified.random import state_array

    state = U.tensor(state_array(7, 12))
    for attrs in ({"low": -3, "high": 9, "dtype": "int64"},
                  {"low": 0, "high": 2**31 + 5, "dtype": "int64"}):
        want = apply(ops.randint, (state,), {"size": (3, 7), **attrs})
        got = apply(ops.randint, (state.cuda(),), {"size": (3, 7), **attrs})
        assert got.device == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())  # bit for bit
    want = apply(ops.uniform, (state,), {"size": (3, 7), "low": -1.0, "high": 2.0})
    got = apply(ops.uniform, (state.cuda(),), {"size": (3, 7), "low": -1.0, "high": 2.0})
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=2e-7, atol=2e-7)
    want = apply(ops.normal, (state,), {"size": (5, 5), "mean": 1.0, "std": 2.0})
    got = apply(ops.normal, (state.cuda(),), {"size": (5, 5), "mean": 1.0, "std": 2.0})
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    p = U.tensor([[0.2], [0.9]]).cuda()
    want = apply(ops.bernoulli, (p.cpu(), state), {"size": (2, 6)})
    got = apply(ops.bernoulli, (p, state), {"size": (2, 6)})  # the state stays on the host
    np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())


def test_bad_indices_on_the_device_are_index_errors(cuda):
    x = U.ones(4, 2, device="cuda")
    with pytest.raises(IndexError, match="out of range"):
        x[U.tensor([0, 4]).cuda()]
    with pytest.raises(IndexError, match="out of range"):
        nn.functional.embedding(U.tensor([5]).cuda(), x)
