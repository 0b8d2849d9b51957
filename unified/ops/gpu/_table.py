"""The table of GPU implementations: `@gpu("add", ...)` registers fn(xp, *arrays, **attrs) ->
array or tuple of arrays under op names; `attach()` puts each on its OpDef as `OpDef.gpu` (a
GpuKernel) and fails on a name the registry does not know. `xp` is the device's NumPy-like
namespace (CuPy on a GPU, NumPy on the test device), so the one implementation runs on both.
Attrs arrive complete (the OpDef's defaults filled in by unified/ops/gpu/run.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class GpuKernel:
    """One op's GPU implementation. host_inputs: positions (negative from the end) of inputs
    that are small host-side data read on the CPU (generator state, optimizer hyper); they may
    stay on the CPU when the other inputs are on the GPU."""

    fn: Callable[..., Any]
    host_inputs: tuple[int, ...] = ()

    def __call__(self, xp: Any, arrays: tuple, attrs: dict) -> Any:
        return self.fn(xp, *arrays, **attrs)


IMPLS: dict[str, GpuKernel] = {}


def gpu(*names: str, host_inputs: tuple[int, ...] = ()) -> Callable:
    """Decorator: register the function as the GPU implementation of each op in `names`."""
    def register(fn: Callable) -> Callable:
        for name in names:
            if name in IMPLS:
                raise RuntimeError(f"op '{name}' has two GPU implementations")
            IMPLS[name] = GpuKernel(fn, host_inputs)
        return fn

    return register


def attach() -> None:
    from unified.ops.registry import OPS

    unknown = sorted(set(IMPLS) - set(OPS))
    if unknown:
        raise RuntimeError(f"GPU implementations for ops that are not registered: {unknown}")
    for name, kernel in IMPLS.items():
        OPS[name].gpu = kernel


def host(array: Any) -> np.ndarray:
    """A device array's values as a NumPy array (a copy from a GPU; a plain view of NumPy)."""
    get = getattr(array, "get", None)
    return np.asarray(get() if get is not None and not isinstance(array, np.ndarray) else array)


def quiet(xp: Any):
    """NumPy's floating-point warnings off (0/0 gives NaN as the C++ kernels do; CuPy never
    warns)."""
    return np.errstate(all="ignore")


def check_index(op: str, xp: Any, index: Any, size: int, role: str = "index") -> None:
    """IndexError naming the op and the bad value when an index is outside [-size, size) (CuPy
    does not check; this reads one flag back from the device)."""
    if index.size == 0:
        return
    bad = xp.logical_or(index < -size, index >= size)
    if bool(bad.any()):
        value = int(host(index[bad].ravel()[:1])[0])
        raise IndexError(f"{op}: {role} {value} is out of range for a dimension of size {size}")


def wrap_index(xp: Any, index: Any, size: int) -> Any:
    return xp.where(index < 0, index + size, index)


def scatter_add(xp: Any, target: Any, key: Any, values: Any) -> None:
    """target[key] += values with repeated positions accumulating (ufunc.at; CuPy has it)."""
    xp.add.at(target, key, values)


def erf(xp: Any, x: Any) -> Any:
    """erf in float32: cupyx.scipy.special.erf on the GPU; SciPy (or math.erf) on NumPy."""
    if xp is np:
        try:
            from scipy.special import erf as scipy_erf
        except ImportError:  # pragma: no cover - scipy is in the dev environment
            import math

            return np.vectorize(math.erf, otypes=[np.float64])(x).astype(np.float32)
        return scipy_erf(x).astype(np.float32)
    import cupyx.scipy.special

    return cupyx.scipy.special.erf(x)


def f32(value: float) -> np.float32:
    return np.float32(value)
