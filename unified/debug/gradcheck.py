"""check_grad(fn, *inputs): compare autograd's gradients of `fn` with central finite
differences, for users who build their own ops from primitives (torch.autograd.gradcheck).

1. Objective: L = sum_k sum(out_k * w_k) over fn's floating outputs, w_k fixed random weights.
2. Analytical: dL/dx for every input that requires grad, by autograd.grad.
3. Numerical: per element, L(x + eps) - L(x - eps) over the step actually taken, in float64.
   unified computes in float32 (there is no float64), so the inputs are perturbed as float32
   and the outputs summed in float64; eps (1e-2: float32 rounding divided by a smaller step
   outweighs the O(eps^2) truncation) and the tolerances are sized for float32.
4. Compare |analytical - numerical| <= atol + rtol * |numerical| everywhere; the first input
   that fails raises GradcheckError naming the worst element and both values.
Cost: two calls of fn per input element: meant for small inputs. Eager only (TraceError inside
a traced function)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from unified.errors import TraceError, fmt_shape
from unified.tensor import VALUE_READS, Tensor


class GradcheckError(RuntimeError):
    """check_grad found an input whose autograd gradient differs from finite differences; the
    message names the input, the worst element, both values and the tolerances. Fix: the
    grad rule of the op or composition at fault (or a non-differentiable point such as relu
    at 0: move the input away from it)."""


def check_grad(fn: Callable[..., Any], *inputs: Any, eps: float = 1e-2, atol: float = 1e-3,
               rtol: float = 1e-2, seed: int = 0, raise_exception: bool = True) -> bool:
    """True when fn's gradients w.r.t. the inputs that require grad match central finite
    differences; otherwise raise GradcheckError (or return False with raise_exception=False).

    >>> import unified as U
    >>> x = U.tensor([0.5, 1.0, 2.0], requires_grad=True)
    >>> U.debug.check_grad(lambda t: (t * t.exp()).sum(), x)
    True
    """
    from unified import autograd
    from unified.grad_mode import enable_grad, no_grad

    if VALUE_READS.get() is not None:
        raise TraceError("check_grad() runs fn eagerly many times and cannot run inside a "
                         "traced function; call it outside")
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("check_grad: no input requires grad; pass tensors made with "
                         "requires_grad=True for the gradients to check")
    leaves = [t.detach().requires_grad_(True) if i in checked else t
              for i, t in enumerate(inputs)]
    with enable_grad():
        outputs = _floating(fn(*leaves))
        if not outputs:
            raise ValueError("check_grad: fn returned no float32 tensor to differentiate")
        rng = np.random.default_rng(seed)
        weights = [rng.standard_normal(o.shape).astype(np.float32) for o in outputs]
        loss = _weighted(outputs, weights)
        analytical = autograd.grad(loss, [leaves[i] for i in checked], allow_unused=True)

    def objective(args: list) -> float:
        with no_grad():
            outs = _floating(fn(*args))
        return sum(float(np.sum(o._data.astype(np.float64) * w)) for o, w in zip(outs, weights))

    for slot, i in enumerate(checked):
        numerical = _numerical(objective, list(leaves), i, eps)
        got = analytical[slot]
        got = np.zeros(numerical.shape) if got is None else got._data.astype(np.float64)
        error = _mismatch(i, inputs[i], got, numerical, (atol, rtol, eps))
        if error is not None:
            if raise_exception:
                raise GradcheckError(error)
            return False
    return True


def _floating(value: Any) -> list:
    items = value if isinstance(value, (tuple, list)) else [value]
    return [t for t in items if isinstance(t, Tensor) and t.dtype == np.float32]


def _weighted(outputs: list, weights: list) -> Tensor:
    from unified.creation import tensor

    loss = None
    for o, w in zip(outputs, weights):
        term = (o * tensor(w)).sum()
        loss = term if loss is None else loss + term
    return loss


def _numerical(objective: Callable[[list], float], args: list, index: int,
               eps: float) -> np.ndarray:
    from unified.creation import tensor

    base = args[index]._data.astype(np.float32)
    grad = np.zeros(base.shape, np.float64)
    flat, gflat = base.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        plus, minus = np.float32(old + eps), np.float32(old - eps)
        flat[k] = plus
        args[index] = tensor(base.copy())
        high = objective(args)
        flat[k] = minus
        args[index] = tensor(base.copy())
        low = objective(args)
        flat[k] = old
        gflat[k] = (high - low) / (float(plus) - float(minus))  # the step float32 really took
    return grad


def _mismatch(i: int, t: Tensor, got: np.ndarray, want: np.ndarray,
              tolerances: tuple[float, float, float]) -> str | None:
    atol, rtol, eps = tolerances
    excess = np.abs(got - want) - (atol + rtol * np.abs(want))
    if not (excess > 0).any():
        return None
    worst = np.unravel_index(int(np.argmax(excess)), want.shape) if want.ndim else ()
    return (f"check_grad: the gradient of input {i} (shape {fmt_shape(t.shape)}) differs from "
            f"finite differences at index {tuple(int(k) for k in worst)}: autograd "
            f"{got[worst]:.6g}, numerical {want[worst]:.6g} "
            f"({int((excess > 0).sum())} of {want.size} elements off; atol {atol}, rtol {rtol}, "
            f"eps {eps})")
