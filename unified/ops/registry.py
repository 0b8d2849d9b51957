"""The op registry: one `OpDef` per op, declared once in unified/ops/<family>.py. Every mode
reads its fields (eager dispatch, autograd, tracer, ONNX export, mobile build); nobody keeps a
table of op names of their own. Registering a name twice fails at import."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from unified import _core


class Trait(enum.Enum):
    ELEMENTWISE = "elementwise"  # out[i] depends on in[i] only (fusable)
    INPLACE_OK = "inplace_ok"  # the kernel may write its output over its first input
    COMMUTATIVE = "commutative"
    REDUCTION = "reduction"
    VIEW = "view"  # eager result is a view of input 0 (no kernel call when layout allows)
    RANDOM = "random"  # reads the generator (a (seed, offset) int64 state input)
    SIDE_EFFECT = "side_effect"


class TensorMeta(NamedTuple):
    """What shape inference knows of a tensor: its shape and dtype (no data)."""

    shape: tuple[int, ...]
    dtype: np.dtype


_MISSING: Any = object()  # `grad` must be written out: a function, or None for "not differentiable"


@dataclass(eq=False)
class OpDef:
    """Everything known about one op.

    infer(*metas, **attrs) -> TensorMeta (or a tuple for several outputs); raises ShapeError
    or DTypeError naming the op and the values. Inputs are anything with .shape and .dtype.
    grad(g, *inputs, out=..., **attrs) -> one gradient per input (None where there is none);
    for several outputs g and out are tuples. Written only with registered ops.
    view(array, **attrs) -> a NumPy view of input 0, or None when the layout needs a copy
    (then the kernel runs). Only for Trait.VIEW ops.
    """

    name: str
    inputs: tuple[str, ...]
    infer: Callable[..., Any]
    kernel: str | None
    grad: Callable[..., Any] | None = _MISSING
    attrs: dict[str, Any] = field(default_factory=dict)
    traits: frozenset[Trait] = frozenset()
    num_outputs: int = 1
    saves_inputs: bool = True  # grad reads input values (so in-place changes are checked)
    saves_output: bool = False  # grad reads the output value
    view: Callable[..., Any] | None = None
    # update ops: output k is the new value of input writes_inputs[k]; eager runs them in place
    # (dispatch.apply_update), a graph keeps them as ordinary outputs plus state writes
    writes_inputs: tuple[int, ...] = ()
    # float32 inputs of one shape always give one float32 output of that shape, so eager may
    # take _core.run_same (no infer call, allocation in C++): the per-op overhead fast path
    same_shape_fast: bool = False
    # fusable float32 elementwise op (core_cpp/include/unified/elementwise_math.h): the attrs
    # that become p0, p1 of its ew:: function, in order; an attr whose values are strings is
    # (name, {value: float}). None: not fusable. Read by tracer/passes/fuse.py.
    fuse_params: tuple | None = None
    # the CUDA implementation (unified/ops/gpu/<family>.py: a GpuKernel, fn(xp, *arrays,
    # **attrs) over CuPy), attached when a device backend is first installed
    gpu: Any = None
    onnx: Any = None
    onnx_unsupported: str | None = None
    doc: str = ""
    _kid: int = -1
    _attrs_cache: dict = field(default_factory=dict)

    def kernel_id(self) -> int:
        if self._kid < 0:
            if self.kernel is None:
                raise RuntimeError(f"op {self.name} has no kernel")
            self._kid = _core.kernel_id(self.kernel)
        return self._kid

    def parsed_attrs(self, attrs: dict[str, Any]) -> Any:
        """Attrs parsed once into a `_core.Attrs` (cached per distinct value set)."""
        try:
            key = tuple(attrs.items())
            parsed = self._attrs_cache.get(key)
        except TypeError:  # an unhashable value: parse without caching
            return _core.Attrs(attrs)
        if parsed is None:
            parsed = _core.Attrs(attrs)
            if len(self._attrs_cache) < 512:
                self._attrs_cache[key] = parsed
        return parsed

    def __repr__(self) -> str:
        return f"OpDef({self.name})"


class _Functional:
    """`F` for gradient rules: unified.functional (and the creation functions, e.g. zeros_like),
    imported on first use (they import the ops)."""

    def __getattr__(self, name: str) -> Any:
        import unified.creation as creation
        import unified.functional as functional

        value = getattr(functional, name, None) or getattr(creation, name)
        setattr(self, name, value)  # later lookups are plain attribute reads
        return value


F = _Functional()

OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise RuntimeError(f"op '{op.name}' is registered twice")
    if op.grad is _MISSING:
        raise RuntimeError(f"op '{op.name}': write grad=... or grad=None (not differentiable)")
    if op.kernel is None and Trait.VIEW not in op.traits:
        raise RuntimeError(f"op '{op.name}' has no kernel and is not a view op")
    OPS[op.name] = op
    return op


def lookup(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op named '{name}' is registered") from None
