"""Reduction ops: sum, mean, max, min, argmax, argmin, var, logsumexp, all, any over the dims
in attr `dims` (normalized, sorted; unified/functional/reduction.py normalizes user input) with
`keepdim`. Kernels: core_cpp/kernels/reduce.cpp. Gradients broadcast `g` back with F.expand
or with broadcasting elementwise ops; argmax/argmin/all/any are not differentiable."""

from __future__ import annotations

import builtins
import math

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.infer import F32
from unified.ops.registry import F, OpDef, TensorMeta, Trait, register

LATER = "lowering arrives with the ONNX exporter (issue 5)"
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
_SUPPORTED = (F32, np.dtype(np.int32), I64, np.dtype(np.uint8), BOOL)


def check_dims(op: str, shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
    """`dims` must be sorted, distinct and in range (the functional layer normalizes them)."""
    if builtins.any(not 0 <= d < len(shape) for d in dims) or list(dims) != sorted(set(dims)):
        raise ShapeError(f"{op}: dims {tuple(dims)} must be sorted, distinct and in "
                         f"[0, {len(shape)}) for input {fmt_shape(shape)}")


def reduced_shape(shape: tuple[int, ...], dims: tuple[int, ...], keepdim) -> tuple[int, ...]:
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def reduced_count(shape: tuple[int, ...], dims: tuple[int, ...]) -> int:
    return math.prod(shape[d] for d in dims)


def _infer(op: str, out_dtype=None, float_only: bool = False, nonempty: bool = False):
    """out_dtype: a dtype, None (the input's), or a function of the input dtype."""

    def infer(x, dims=(), keepdim=False, **attrs):
        shape = tuple(x.shape)
        check_dims(op, shape, dims)
        if float_only and x.dtype != F32:
            raise DTypeError(f"{op}: input must be float32, got {x.dtype} (shape "
                             f"{fmt_shape(shape)}); cast with .float()")
        if x.dtype not in _SUPPORTED:
            raise DTypeError(f"{op}: unsupported input dtype {x.dtype}")
        if nonempty:
            for d in dims:
                if shape[d] == 0:
                    raise ShapeError(f"{op}: cannot reduce over an empty dimension: dim {d} of "
                                     f"input {fmt_shape(shape)} has size 0")
        dtype = x.dtype if out_dtype is None else out_dtype
        if callable(dtype):
            dtype = dtype(x.dtype)
        return TensorMeta(reduced_shape(shape, dims, keepdim), np.dtype(dtype))

    return infer


def _keep(g, x, dims, keepdim):
    """g reshaped to x's shape with 1 in each reduced dim (it broadcasts against x)."""
    return g if keepdim else F.reshape(g, reduced_shape(x.shape, dims, True))


def _sum_grad(g, x, out, dims, keepdim):
    return F.expand(_keep(g, x, dims, keepdim), x.shape)


def _mean_grad(g, x, out, dims, keepdim):
    count = reduced_count(x.shape, dims)
    scaled = F.div(g, float(count)) if count else g
    return F.expand(_keep(scaled, x, dims, keepdim), x.shape)


def _extremum_grad(g, x, out, dims, keepdim):
    """g goes to the elements equal to the extremum, split evenly among ties (like amax)."""
    mask = F.cast(F.eq(x, _keep(out, x, dims, keepdim)), F32)
    count = F.sum(mask, dims, keepdim=True)
    return F.mul(mask, F.div(_keep(g, x, dims, keepdim), count))


def _var_grad(g, x, out, dims, keepdim, correction):
    dof = reduced_count(x.shape, dims) - correction
    scale = 2.0 / dof if dof > 0 else float("nan")
    centered = F.sub(x, F.mean(x, dims, keepdim=True))
    return F.mul(centered, F.mul(_keep(g, x, dims, keepdim), scale))


def _logsumexp_grad(g, x, out, dims, keepdim):
    softmax = F.exp(F.sub(x, _keep(out, x, dims, keepdim)))
    return F.mul(softmax, _keep(g, x, dims, keepdim))


def _reduction(name, infer, grad, onnx=None, saves_inputs=False, saves_output=False, attrs=None,
               doc=""):
    return register(OpDef(
        name=name, inputs=("x",), infer=infer, kernel=name, grad=grad,
        attrs={"dims": (), "keepdim": False, **(attrs or {})}, traits=frozenset({Trait.REDUCTION}),
        saves_inputs=saves_inputs, saves_output=saves_output, onnx=onnx,
        onnx_unsupported=None if onnx else LATER, doc=doc,
    ))


def _sum_dtype(dtype):
    return F32 if dtype == F32 else I64


sum = _reduction("sum", _infer("sum", _sum_dtype), _sum_grad, "ReduceSum",
                 doc="sum over dims; integer and bool inputs give int64")
mean = _reduction("mean", _infer("mean", float_only=True), _mean_grad, "ReduceMean")
max = _reduction("max", _infer("max", nonempty=True), _extremum_grad, "ReduceMax",
                 saves_inputs=True, saves_output=True, doc="values only (amax); see argmax")
min = _reduction("min", _infer("min", nonempty=True), _extremum_grad, "ReduceMin",
                 saves_inputs=True, saves_output=True, doc="values only (amin); see argmin")
argmax = _reduction("argmax", _infer("argmax", I64, nonempty=True), None,
                    doc="first index of the max in row-major order over the reduced dims")
argmin = _reduction("argmin", _infer("argmin", I64, nonempty=True), None,
                    doc="first index of the min in row-major order over the reduced dims")
var = _reduction("var", _infer("var", float_only=True), _var_grad, saves_inputs=True,
                 attrs={"correction": 1.0},
                 doc="sum((x - mean)^2) / max(count - correction, 0)")
logsumexp = _reduction("logsumexp", _infer("logsumexp", float_only=True), _logsumexp_grad,
                       "ReduceLogSumExp", saves_inputs=True, saves_output=True)
all = _reduction("all", _infer("all", BOOL), None, doc="every element nonzero; bool result")
any = _reduction("any", _infer("any", BOOL), None, doc="some element nonzero; bool result")
