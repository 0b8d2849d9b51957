"""Random ops: normal, uniform, randint (the output shape is the `size` attr) and bernoulli
(probabilities broadcast to `size`). Each takes the generator state as its LAST input, `state`:
an int64 tensor of shape (2,) holding (seed, offset) (Generator.draw in unified/random.py
builds it), so a traced graph carries the state as a graph input and replay gives eager's
numbers. Not differentiable. Kernels: core_cpp/kernels/random.cpp (Philox4x32-10)."""

from __future__ import annotations

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops import infer
from unified.ops.registry import OpDef, TensorMeta, Trait, register

RANDOM = frozenset({Trait.RANDOM})
NOT_EXPORTED = ("random ops are not exported: ONNX's random ops cannot draw the generator's "
                "numbers (call model.eval() to turn dropout off)")
_RANDINT_DTYPES = tuple(np.dtype(d) for d in (np.int64, np.int32, np.uint8, np.float32))


def _check_state(op: str, state) -> None:
    if tuple(state.shape) != (2,) or np.dtype(state.dtype) != np.dtype(np.int64):
        raise DTypeError(f"{op}: the generator state input must be int64 of shape (2,) "
                         f"(seed, offset), got {np.dtype(state.dtype)} of shape "
                         f"{fmt_shape(state.shape)}")


def _size(op: str, size) -> tuple[int, ...]:
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ShapeError(f"{op}: size {shape} has a negative dimension")
    return shape


def _normal_infer(state, size, mean, std):
    _check_state("normal", state)
    if not std >= 0.0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    return TensorMeta(_size("normal", size), infer.F32)


def _uniform_infer(state, size, low, high):
    _check_state("uniform", state)
    if not low <= high:
        raise ValueError(f"uniform: low must be <= high, got low={low}, high={high}")
    return TensorMeta(_size("uniform", size), infer.F32)


def _randint_infer(state, size, low, high, dtype):
    _check_state("randint", state)
    dtype = np.dtype(dtype)
    if dtype not in _RANDINT_DTYPES:
        raise DTypeError(f"randint: dtype must be int64, int32, uint8 or float32, got {dtype}")
    if not low < high:
        raise ValueError(f"randint: low must be < high, got low={low}, high={high}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if low < info.min or high - 1 > info.max:
            raise ValueError(f"randint: range [{low}, {high}) does not fit {dtype}")
    return TensorMeta(_size("randint", size), dtype)


def _bernoulli_infer(p, state, size):
    _check_state("bernoulli", state)
    infer.require_float("bernoulli", p, "p")
    shape = _size("bernoulli", size)
    if infer.broadcast_shapes("bernoulli", tuple(p.shape), shape) != shape:
        raise ShapeError(f"bernoulli: p of shape {fmt_shape(p.shape)} does not broadcast to size "
                         f"{fmt_shape(shape)}")
    return TensorMeta(shape, infer.F32)


normal = register(OpDef(
    name="normal", inputs=("state",), infer=_normal_infer, kernel="normal", grad=None,
    attrs={"size": (), "mean": 0.0, "std": 1.0}, traits=RANDOM, onnx_unsupported=NOT_EXPORTED,
    doc="float32 samples of N(mean, std^2) of shape `size`",
))
uniform = register(OpDef(
    name="uniform", inputs=("state",), infer=_uniform_infer, kernel="uniform", grad=None,
    attrs={"size": (), "low": 0.0, "high": 1.0}, traits=RANDOM, onnx_unsupported=NOT_EXPORTED,
    doc="float32 samples of U[low, high) of shape `size`",
))
randint = register(OpDef(
    name="randint", inputs=("state",), infer=_randint_infer, kernel="randint", grad=None,
    attrs={"size": (), "low": 0, "high": 1, "dtype": "int64"}, traits=RANDOM,
    onnx_unsupported=NOT_EXPORTED, doc="integers uniform in [low, high) of shape `size` in `dtype`",
))
bernoulli = register(OpDef(
    name="bernoulli", inputs=("p", "state"), infer=_bernoulli_infer, kernel="bernoulli", grad=None,
    attrs={"size": ()}, traits=RANDOM, saves_inputs=False,
    onnx_unsupported=NOT_EXPORTED,
    doc="float32 1.0 with probability p (broadcast to `size`), else 0.0",
))
