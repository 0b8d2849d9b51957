"""Test helpers for tests/nn: central finite differences of a float64 NumPy reference, and a
weighted-sum backward through a unified module, so gradients can be compared one to one."""

from __future__ import annotations


import numpy as np

import unified as U
from tests.numeric import numeric_grad  # noqa: F401  (re-exported for tests/nn)




def weighted_backward(output: U.Tensor, weights: np.ndarray) -> None:
    """Backward of sum(output * weights), the objective the numeric gradients use."""
    (output * U.tensor(weights.astype(np.float32))).sum().backward()


def params64(module: U.nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().numpy().astype(np.float64) for name, p in module.named_parameters()}
