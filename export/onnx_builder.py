"""The builder `b` that ONNX lowerings write through (an op's `onnx` function in
unified/ops/<family>.py): it appends ONNX nodes and constants, knows the opset, and tracks
which tensor dims are dynamic, so a lowering never imports onnx. export/onnx.py walks the graph
and assembles the model; this file only collects nodes.

Dims: every value has a shape of ints (static) and symbol names (dims that `dynamic_axes` made
variable, or dims computed from them). A symbol has its example size and a "probe" size (a
large prime no real dim uses): export/onnx.py re-runs an op's shape inference at the probe
sizes to learn which output dims move with which symbol. Lowerings whose attributes bake a size
(reshape, expand, slice) read `in_dims` and declare `out_dims` themselves."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from unified.errors import ExportError

Dim = int | str
INT64_MAX = np.iinfo(np.int64).max
_PROBE_BASE = 10007  # probe sizes: primes from here on, far from any example size
# reduce ops whose `axes` moved from an attribute to an input in opset 18 (ReduceSum: 13)
_AXES_INPUT_SINCE = {"ReduceSum": 13}


class Builder:
    """Collects ONNX nodes and initializers for one model (see the module doc)."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.symbols: dict[str, tuple[int, int]] = {}  # name -> (example size, probe size)
        self.in_dims: list[tuple[Dim, ...]] = []  # the current node's inputs (set per node)
        self.out_dims: list[tuple[Dim, ...]] | None = None  # a lowering may declare these
        self.used_outputs: tuple[bool, ...] = ()  # which outputs of the current node are read
        self.where = ""  # "op <name> (at <file:line>)" of the current node, for errors
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}

    # ---- names and constants ---------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A value name not used before, based on `hint`."""
        name, k = hint, 1
        while name in self._names:
            name, k = f"{hint}_{k}", k + 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Claim an exact name (graph inputs and outputs); fresh() will not hand it out."""
        self._names.add(name)

    def initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        array = np.array(array, order="C", copy=True)  # ascontiguousarray would make 0-d 1-d
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def const(self, array: Any, dtype: Any = None) -> str:
        """A constant (an initializer); small ones are shared by value."""
        array = np.asarray(array, dtype=dtype)
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.initializer(array, "const")
        if key is not None:
            self._consts[key] = name
        return name

    def i64(self, values: Any) -> str:
        """An int64 constant: a list gives a 1-D tensor, an int a 0-d one."""
        return self.const(np.asarray(values, dtype=np.int64))

    def scalar(self, value: Any, dtype: Any) -> str:
        """A 0-d constant of `dtype` (the other operand's dtype, for broadcasting ops)."""
        return self.const(np.asarray(value).astype(np.dtype(dtype)))

    @staticmethod
    def dtype(np_dtype: Any) -> int:
        """The ONNX TensorProto element type of a NumPy dtype (for Cast's `to`)."""
        return helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype))

    # ---- nodes -----------------------------------------------------------------------------
    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> list[str]:
        """Append one node; returns its output names. An input of "" is an omitted optional."""
        names = [self.fresh(f"{op_type}_{len(self.nodes)}" + (f"_{k}" if outputs > 1 else ""))
                 for k in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           name=f"{op_type}_{len(self.nodes)}", **attrs))
        return names

    def one(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        """op() for a single-output node: its output name."""
        return self.op(op_type, inputs, 1, **attrs)[0]

    def reduce(self, op_type: str, x: str, axes: Any, keepdims: bool) -> str:
        """ReduceSum/Mean/Max/Min/... over `axes` with the opset's axes convention; no axes
        means no reduction (the registry's reduce ops take explicit dims)."""
        axes = [int(a) for a in axes]
        if not axes:
            return self.one("Identity", [x])
        if self.opset >= _AXES_INPUT_SINCE.get(op_type, 18):
            return self.one(op_type, [x, self.i64(axes)], keepdims=int(keepdims))
        return self.one(op_type, [x], axes=axes, keepdims=int(keepdims))

    def squeeze(self, x: str, axes: Any) -> str:
        axes = [int(a) for a in axes]
        return self.one("Squeeze", [x, self.i64(axes)]) if axes else x

    def unsqueeze(self, x: str, axes: Any) -> str:
        axes = [int(a) for a in axes]
        return self.one("Unsqueeze", [x, self.i64(axes)]) if axes else x

    def cast(self, x: str, dtype: Any) -> str:
        return self.one("Cast", [x], to=self.dtype(dtype))

    def reshape(self, x: str, shape: Any) -> str:
        return self.one("Reshape", [x, self.i64(list(shape))])

    # ---- dims ------------------------------------------------------------------------------
    def is_dynamic(self, i: int, axis: int | None = None) -> bool:
        """Whether input i has a dynamic dim (`axis`, or any when None)."""
        dims = self.in_dims[i]
        if axis is None:
            return any(isinstance(d, str) for d in dims)
        return isinstance(dims[axis], str)

    def require_static(self, i: int, axes: Any, why: str) -> None:
        """ExportError unless the listed dims of input i are static (None: all of them)."""
        axes = range(len(self.in_dims[i])) if axes is None else axes
        moving = [(a, self.in_dims[i][a]) for a in axes if isinstance(self.in_dims[i][a], str)]
        if moving:
            listed = ", ".join(f"dim {a} ({s})" for a, s in moving)
            self.fail(f"{why}, but {listed} of input {i} is dynamic; export with those sizes "
                      "fixed (leave them out of dynamic_axes)")

    def add_symbol(self, name: str, example: int) -> str:
        probe = _next_prime(_PROBE_BASE + 2 * len(self.symbols) * 97)
        while any(probe == p for _, p in self.symbols.values()):
            probe = _next_prime(probe + 1)
        self.symbols[name] = (int(example), probe)
        return name

    def probe_shape(self, dims: tuple[Dim, ...]) -> tuple[int, ...]:
        return tuple(self.symbols[d][1] if isinstance(d, str) else d for d in dims)

    def example_size(self, dim: Dim) -> int:
        return self.symbols[dim][0] if isinstance(dim, str) else dim

    def dim_for(self, example: int, probe: int) -> Dim:
        """The dim whose size is `example` at the example and `probe` at the probe sizes: an int
        when both agree, a known symbol, or a new derived symbol."""
        if example == probe:
            return int(example)
        for name, sizes in self.symbols.items():
            if sizes == (example, probe):
                return name
        return self.derived(example, probe)

    def derived(self, example: int, probe: int) -> str:
        name = f"d{len(self.symbols)}"
        while name in self.symbols:
            name += "_"
        self.symbols[name] = (int(example), int(probe))
        return name

    def probe_numel(self, dims: tuple[Dim, ...]) -> int:
        return math.prod(self.probe_shape(dims))

    # ---- errors ----------------------------------------------------------------------------
    def fail(self, reason: str) -> None:
        raise ExportError(f"to_onnx: {self.where} is not exportable: {reason}")


def _next_prime(n: int) -> int:
    while any(n % p == 0 for p in range(2, int(n ** 0.5) + 1)):
        n += 1
    return n
