"""Running one OpCase on the fake CUDA device (tests/gpu/fake_cuda.py) beside the CPU: inputs
with the row's layout made on the device, outputs and gradients compared with the CPU
kernels' (eager CPU is the reference: the GPU implementations must agree with it)."""

from __future__ import annotations

import numpy as np

import unified as U
from tests.op_cases import Arg, OpCase
from tests.op_harness import as_list, make_inputs, to_tensor


def device_tensor(array: np.ndarray, arg: Arg, requires_grad: bool) -> U.Tensor:
    """Like op_harness.to_tensor, with the data on "cuda" (views taken on the device)."""
    if arg.layout == "contiguous":
        t = U.tensor(array).to("cuda")
    elif arg.layout == "transposed":
        t = U.tensor(np.ascontiguousarray(array.T)).to("cuda").T
    elif arg.layout == "strided":
        wide = np.zeros(array.shape[:-1] + (array.shape[-1] * 2,), array.dtype)
        wide[..., ::2] = array
        t = U.tensor(wide).to("cuda")[..., ::2]
    else:
        raise ValueError(arg.layout)
    assert t.device == "cuda" and t.shape == array.shape
    return t.detach().requires_grad_(True) if requires_grad else t


def _host(t: U.Tensor) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy())


def _close(case: OpCase, got: np.ndarray, want: np.ndarray, what: str, rtol: float,
           atol: float) -> None:
    assert got.shape == want.shape, f"{case.name} {what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{case.name} {what}: dtype {got.dtype} != {want.dtype}"
    if case.exact or want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=f"{case.name} {what}")
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{case.name} {what}")


def check_forward_on_device(case: OpCase, seed: int = 0) -> None:
    arrays = make_inputs(case, seed)
    U.manual_seed(seed)
    want = as_list(case.fn(*[to_tensor(a, arg, False) for a, arg in zip(arrays, case.args)]))
    U.manual_seed(seed)
    got = as_list(case.fn(*[device_tensor(a, arg, False) for a, arg in zip(arrays, case.args)]))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if case.args:  # an op without tensor inputs (barrier) cannot know the device
            assert g.device == "cuda", f"{case.name} output {i} is on {g.device}"
        _close(case, _host(g), _host(w), f"output {i}", 2 * case.rtol + 1e-6,
               2 * case.atol + 1e-6)


def _grads(case: OpCase, tensors: list, weights_seed: int) -> list:
    outs = as_list(case.fn(*tensors))
    rng = np.random.default_rng(weights_seed)
    loss = None
    for o in outs:
        w = rng.standard_normal(o.shape).astype(np.float32)
        if o.dtype != U.float32 or not o.requires_grad:
            continue
        term = (o * U.tensor(w).to(o.device)).sum()
        loss = term if loss is None else loss + term
    assert loss is not None, f"{case.name}: no output requires grad"
    loss.backward()
    return [t.grad for t in tensors]


def check_grad_on_device(case: OpCase, seed: int = 0) -> None:
    arrays = make_inputs(case, seed)
    flags = [arg.is_float and arg.grad for arg in case.args]
    U.manual_seed(seed)
    want = _grads(case, [to_tensor(a, arg, f) for a, arg, f in zip(arrays, case.args, flags)],
                  seed + 1)
    U.manual_seed(seed)
    got = _grads(case, [device_tensor(a, arg, f) for a, arg, f in
                        zip(arrays, case.args, flags)], seed + 1)
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        assert g is not None, f"{case.name}: input {k} got no gradient on the device"
        assert g.device == "cuda", f"{case.name}: gradient {k} is on {g.device}"
        _close(case, _host(g), _host(w), f"gradient of input {k}", 1e-4 + case.rtol,
               1e-4 + case.atol)
