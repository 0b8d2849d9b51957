"""What the runtime's outputs are checked against: the models' example inputs and their eager
outputs (tests/export/models.py), and a subprocess runner for the built tools."""

from __future__ import annotations

import subprocess

import numpy as np

import unified as U

from ..export.models import MODELS


def example_input(name: str) -> np.ndarray:
    """The model's example input (batch 1) as the bundles store it."""
    _, example = MODELS[name](batch=1)
    return example[0].numpy()


def eager_output(name: str, x: np.ndarray) -> np.ndarray:
    model, _ = MODELS[name](batch=1)
    with U.no_grad():
        return model(U.tensor(x)).numpy()


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          **kwargs)
