"""Running one OpCase: build inputs (with the requested layout), call the public API, compare
with the NumPy reference, and compute finite-difference gradients of the reference in float64."""

from __future__ import annotations

import numpy as np

import unified as U
from tests.numeric import numeric_grad
from tests.op_cases import Arg, OpCase


def make_inputs(case: OpCase, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [arg.make(rng) for arg in case.args]


def to_tensor(array: np.ndarray, arg: Arg, requires_grad: bool) -> U.Tensor:
    """A tensor with the data of `array` laid out as `arg.layout` asks (values unchanged)."""
    if arg.layout == "contiguous":
        t = U.tensor(array)
    elif arg.layout == "transposed":
        t = U.tensor(np.ascontiguousarray(array.T)).T  # a non-contiguous view with array's values
    elif arg.layout == "strided":
        wide = np.zeros(array.shape[:-1] + (array.shape[-1] * 2,), array.dtype)
        wide[..., ::2] = array
        t = U.tensor(wide)[..., ::2]
    else:
        raise ValueError(arg.layout)
    assert t.shape == array.shape
    if requires_grad:
        leaf = t.detach().requires_grad_(True)  # a leaf that keeps the strided layout
        return leaf
    return t


def as_list(value) -> list:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def check_forward(case: OpCase, seed: int = 0) -> None:
    arrays = make_inputs(case, seed)
    tensors = [to_tensor(a, arg, False) for a, arg in zip(arrays, case.args)]
    got = as_list(case.fn(*tensors))
    ref64 = [a.astype(np.float64) if arg.is_float else a for a, arg in zip(arrays, case.args)]
    want = as_list(case.ref(*ref64))
    assert len(got) == len(want), f"{case.name}: {len(got)} outputs, reference has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        g_np = g.detach().numpy()
        assert g_np.shape == w.shape, f"{case.name} output {i}: shape {g_np.shape} != {w.shape}"
        if case.exact or w.dtype.kind in "biu":
            np.testing.assert_array_equal(g_np, w, err_msg=f"{case.name} output {i}")
        else:
            np.testing.assert_allclose(g_np, w, rtol=case.rtol, atol=case.atol,
                                       err_msg=f"{case.name} output {i}")


def numeric_grads(case: OpCase, arrays: list[np.ndarray], weights: list[np.ndarray],
                  eps: float = 1e-6) -> list[np.ndarray | None]:
    """d/dx sum(ref(x) * w) by central differences, in float64."""
    base = [a.astype(np.float64) if arg.is_float else a for a, arg in zip(arrays, case.args)]

    def objective(inputs):
        outs = as_list(case.ref(*inputs))
        return sum(float(np.sum(np.asarray(o, np.float64) * w))
                   for o, w in zip(outs, weights) if w is not None)

    grads: list[np.ndarray | None] = []
    for k, arg in enumerate(case.args):
        if not (arg.is_float and arg.grad):
            grads.append(None)
            continue
        grads.append(numeric_grad(
            lambda v, k=k: objective(base[:k] + [v] + base[k + 1:]), base[k], eps))
    return grads


def check_grad(case: OpCase, seed: int = 0) -> None:
    arrays = make_inputs(case, seed)
    tensors = [to_tensor(a, arg, arg.is_float and arg.grad) for a, arg in zip(arrays, case.args)]
    outs = as_list(case.fn(*tensors))
    rng = np.random.default_rng(seed + 1)
    weights = [rng.standard_normal(o.shape) if o.dtype == U.float32 else None for o in outs]
    loss = None
    for o, w in zip(outs, weights):
        if w is None or not o.requires_grad:
            continue
        term = (o * U.tensor(w.astype(np.float32))).sum()
        loss = term if loss is None else loss + term
    assert loss is not None, f"{case.name}: no output requires grad"
    loss.backward()
    want = numeric_grads(case, arrays, weights)
    for k, (t, w) in enumerate(zip(tensors, want)):
        if w is None:
            continue
        assert t.grad is not None, f"{case.name}: input {k} got no gradient"
        np.testing.assert_allclose(t.grad.numpy(), w, rtol=case.grad_rtol, atol=case.grad_atol,
                                   err_msg=f"{case.name}: gradient of input {k}")
