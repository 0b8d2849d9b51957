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


# ---- ONNX lowerings ---------------------------------------------------------------------------
def _reduce_onnx(op_type: str, cast_to=None):
    """One ONNX reduce over `dims`; cast_to(dtype) gives the dtype to reduce in (None: as is)."""
    def lower(b, inputs, attrs, in_metas, out_metas):
        x = inputs[0]
        dtype = in_metas[0].dtype
        work = cast_to(dtype) if cast_to else dtype
        if work != dtype:
            x = b.cast(x, work)
        y = b.reduce(op_type, x, attrs["dims"], attrs["keepdim"])
        return [y if work == out_metas[0].dtype else b.cast(y, out_metas[0].dtype)]

    return lower


def _extremum_dtype(dtype):
    return np.dtype(np.int32) if dtype == BOOL else dtype  # ReduceMax/Min on bool: opset 20


def _arg_onnx(op_type: str):
    """ArgMax/ArgMin: one dim directly; several are moved last and merged, so the index counts
    in row-major order over them (first occurrence wins, as in the kernel)."""
    def lower(b, inputs, attrs, in_metas, out_metas):
        x, dims, keep = inputs[0], tuple(attrs["dims"]), attrs["keepdim"]
        ndim = len(in_metas[0].shape)
        if in_metas[0].dtype == BOOL:
            x = b.cast(x, np.int32)
        if not dims:  # nothing reduced: every index is 0
            return [b.cast(b.one("ConstantOfShape", [b.one("Shape", [x])]), I64)]
        if len(dims) == 1:
            return [b.one(op_type, [x], axis=dims[0], keepdims=int(keep))]
        rest = [d for d in range(ndim) if d not in dims]
        moved = b.one("Transpose", [x], perm=rest + list(dims))
        merged = b.reshape(moved, [0] * len(rest) + [-1])
        y = b.one(op_type, [merged], axis=len(rest), keepdims=0)
        return [b.unsqueeze(y, dims) if keep else y]

    return lower


def _var_onnx(b, inputs, attrs, in_metas, out_metas):
    """sum((x - mean)^2) / max(count - correction, 0): count is fixed at export."""
    dims, keep = attrs["dims"], attrs["keepdim"]
    b.require_static(0, dims, "var divides by the number of reduced elements")
    x = inputs[0]
    centered = b.one("Sub", [x, b.reduce("ReduceMean", x, dims, True)])
    squares = b.reduce("ReduceSum", b.one("Mul", [centered, centered]), dims, keep)
    dof = builtins.max(reduced_count(in_metas[0].shape, dims) - attrs["correction"], 0.0)
    return [b.one("Div", [squares, b.scalar(dof, F32)])]


def _logsumexp_onnx(b, inputs, attrs, in_metas, out_metas):
    """max + log(sum(exp(x - max))), as the kernel computes it."""
    x, dims, keep = inputs[0], attrs["dims"], attrs["keepdim"]
    top = b.reduce("ReduceMax", x, dims, True)
    finite = b.one("Where", [b.one("IsInf", [top]), b.scalar(0.0, F32), top])
    total = b.reduce("ReduceSum", b.one("Exp", [b.one("Sub", [x, finite])]), dims, True)
    y = b.one("Add", [b.one("Log", [total]), finite])
    return [y if keep else b.squeeze(y, dims)]


def _bool_reduce_onnx(any_: bool):
    """any: some element nonzero (count > 0); all: no element zero (count of zeros == 0)."""
    def lower(b, inputs, attrs, in_metas, out_metas):
        flags = b.cast(inputs[0], BOOL)
        if not any_:
            flags = b.one("Not", [flags])
        count = b.reduce("ReduceSum", b.cast(flags, I64), attrs["dims"], attrs["keepdim"])
        zero = b.scalar(0, I64)
        return [b.one("Greater", [count, zero]) if any_ else b.one("Equal", [count, zero])]

    return lower


def _reduction(name, infer, grad, onnx=None, saves_inputs=False, saves_output=False, attrs=None,
               doc=""):
    return register(OpDef(
        name=name, inputs=("x",), infer=infer, kernel=name, grad=grad,
        attrs={"dims": (), "keepdim": False, **(attrs or {})}, traits=frozenset({Trait.REDUCTION}),
        saves_inputs=saves_inputs, saves_output=saves_output, onnx=onnx, doc=doc,
    ))


def _sum_dtype(dtype):
    return F32 if dtype == F32 else I64


sum = _reduction("sum", _infer("sum", _sum_dtype), _sum_grad,
                 _reduce_onnx("ReduceSum", _sum_dtype),
                 doc="sum over dims; integer and bool inputs give int64")
def _mean_onnx(b, inputs, attrs, in_metas, out_metas):
    """ReduceMean; over an empty dim it is 0 / 0 (NaN, as the kernel gives)."""
    if reduced_count(in_metas[0].shape, attrs["dims"]) == 0 and not b.is_dynamic(0):
        total = b.reduce("ReduceSum", inputs[0], attrs["dims"], attrs["keepdim"])
        return [b.one("Div", [total, b.scalar(0.0, F32)])]
    return [b.reduce("ReduceMean", inputs[0], attrs["dims"], attrs["keepdim"])]


mean = _reduction("mean", _infer("mean", float_only=True), _mean_grad, _mean_onnx)
max = _reduction("max", _infer("max", nonempty=True), _extremum_grad,
                 _reduce_onnx("ReduceMax", _extremum_dtype),
                 saves_inputs=True, saves_output=True, doc="values only (amax); see argmax")
min = _reduction("min", _infer("min", nonempty=True), _extremum_grad,
                 _reduce_onnx("ReduceMin", _extremum_dtype),
                 saves_inputs=True, saves_output=True, doc="values only (amin); see argmin")
argmax = _reduction("argmax", _infer("argmax", I64, nonempty=True), None, _arg_onnx("ArgMax"),
                    doc="first index of the max in row-major order over the reduced dims")
argmin = _reduction("argmin", _infer("argmin", I64, nonempty=True), None, _arg_onnx("ArgMin"),
                    doc="first index of the min in row-major order over the reduced dims")
var = _reduction("var", _infer("var", float_only=True), _var_grad, _var_onnx, saves_inputs=True,
                 attrs={"correction": 1.0},
                 doc="sum((x - mean)^2) / max(count - correction, 0)")
logsumexp = _reduction("logsumexp", _infer("logsumexp", float_only=True), _logsumexp_grad,
                       _logsumexp_onnx, saves_inputs=True, saves_output=True)
all = _reduction("all", _infer("all", BOOL), None, _bool_reduce_onnx(False),
                 doc="every element nonzero; bool result")
any = _reduction("any", _infer("any", BOOL), None, _bool_reduce_onnx(True),
                 doc="some element nonzero; bool result")
