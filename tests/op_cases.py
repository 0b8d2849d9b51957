"""The one table of op cases. Each OpCase calls an op through the public API and names a NumPy
reference; tests/test_ops.py runs every row eagerly against the reference and, for rows with
float inputs, checks gradients against finite differences of the reference in float64. Later
modes (traced, ONNX, runtime) add one more check over the same rows. Rows live per op family
in tests/cases/<family>.py (same family names as unified/ops/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Arg:
    """One input. kind: normal | positive | unit (in (-0.9, 0.9)) | distinct (no ties, for
    max/sort) | int (0..high-1) | bool | uint8 | away (|x| >= 0.3, away from kinks at 0).
    layout: contiguous | transposed (a .T view of the reversed shape) | strided (every other
    element of the last dim). grad: differentiate with respect to this input."""

    shape: tuple[int, ...]
    kind: str = "normal"
    dtype: str = "float32"
    high: int = 5
    layout: str = "contiguous"
    grad: bool = True
    value: Any = None  # a fixed array instead of random data

    def make(self, rng: np.random.Generator) -> np.ndarray:
        if self.value is not None:
            return np.asarray(self.value).astype(self.dtype)
        n = int(np.prod(self.shape))
        if self.kind == "normal":
            a = rng.standard_normal(self.shape)
        elif self.kind == "positive":
            a = rng.uniform(0.5, 2.0, self.shape)
        elif self.kind == "unit":
            a = rng.uniform(-0.9, 0.9, self.shape)
        elif self.kind == "away":
            a = rng.uniform(0.3, 2.0, self.shape) * rng.choice([-1.0, 1.0], self.shape)
        elif self.kind == "distinct":
            a = (rng.permutation(n).reshape(self.shape) - n / 2) * 0.37
        elif self.kind == "int":
            return np.array(rng.integers(0, self.high, self.shape), dtype=self.dtype)
        elif self.kind == "bool":
            return np.array(rng.random(self.shape) < 0.5)
        elif self.kind == "uint8":
            return np.array(rng.integers(0, 256, self.shape), dtype=np.uint8)
        else:
            raise ValueError(f"unknown Arg kind {self.kind}")
        return np.array(a, dtype=self.dtype)  # a 0-d array (not a NumPy scalar) for shape ()

    @property
    def is_float(self) -> bool:
        return self.dtype == "float32" and self.kind not in ("int", "bool", "uint8")


@dataclass(frozen=True)
class OpCase:
    """fn(*tensors) -> Tensor or tuple, through the public API; ref(*float64 arrays) -> array or
    tuple. grad=False skips the gradient check (e.g. integer outputs). tests/test_registry.py
    runs every row (forward and backward) and checks that together they dispatch every op."""

    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    args: tuple[Arg, ...]
    grad: bool = True
    rtol: float = 1e-5
    atol: float = 1e-5
    grad_rtol: float = 2e-3
    grad_atol: float = 2e-3
    exact: bool = False  # compare integer/bool outputs exactly
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name


def all_cases() -> list[OpCase]:
    import importlib
    import pkgutil

    from tests import cases

    rows: list[OpCase] = []
    for info in sorted(pkgutil.iter_modules(cases.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"tests.cases.{info.name}")
        rows.extend(module.CASES)
    names = [r.name for r in rows]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate op case names: {sorted(duplicates)}")
    return rows
