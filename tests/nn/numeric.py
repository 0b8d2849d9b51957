"""Test helpers for tests/nn: central finite differences of a float64 NumPy reference, and a
weighted-sum backward through a unified module, so gradients can be compared one to one."""

from __future__ import annotations

from typing import Callable

import numpy as np

import unified as U


def numeric_grad(fn: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
                 ) -> np.ndarray:
    """d fn / d x by central differences, in float64 (x is not modified)."""
    base = np.array(x, np.float64)
    grad = np.zeros_like(base)
    flat, gflat = base.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = fn(base)
        flat[i] = old - eps
        minus = fn(base)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def weighted_backward(output: U.Tensor, weights: np.ndarray) -> None:
    """Backward of sum(output * weights), the objective the numeric gradients use."""
    (output * U.tensor(weights.astype(np.float32))).sum().backward()


def params64(module: U.nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().numpy().astype(np.float64) for name, p in module.named_parameters()}
