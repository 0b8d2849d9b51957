"""Shared by the optimizer tests: run an optimizer for a few steps with given gradients."""

import numpy as np

import unified as U


def run_steps(opt_cls, p0: np.ndarray, grads: list[np.ndarray], **hyper) -> np.ndarray:
    """The parameter after one opt.step() per gradient in `grads` (set directly as .grad)."""
    p = U.tensor(p0.astype(np.float32), requires_grad=True)
    opt = opt_cls([p], **hyper)
    for g in grads:
        p.grad = U.tensor(g.astype(np.float32))
        opt.step()
    return p.detach().numpy().copy()


def fixed_problem(seed: int = 0, steps: int = 2, shape=(3, 4)):
    """A starting point and `steps` gradients (float64; values representable in float32)."""
    rng = np.random.default_rng(seed)
    p0 = rng.normal(size=shape).astype(np.float32).astype(np.float64)
    grads = [rng.normal(size=shape).astype(np.float32).astype(np.float64) for _ in range(steps)]
    return p0, grads
