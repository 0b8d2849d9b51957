"""Central finite differences in float64: the one gradient oracle the tests share (op table,
nn modules, losses)."""

from __future__ import annotations

from typing import Callable

import numpy as np


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
