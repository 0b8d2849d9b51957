"""GPU implementations of the elementwise family (unified/ops/elementwise.py): arithmetic,
comparisons, where, cast, unary math, activations and their backward ops. The fusable float32
ops are written once as `EW[name](xp, *operands, p0, p1)`, the same (x, p0, p1) form as
core_cpp/include/unified/elementwise_math.h; the unfused ops, the fused-elementwise program
interpreter (fused.py) and the fused linear/conv activations (matmul.py, conv.py) all call
this table. tracer/codegen_cuda.py holds the same math as CUDA C++ for generated kernels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from unified.ops.gpu._table import erf, gpu, quiet

_F32 = np.float32
SQRT_2_OVER_PI = _F32(0.7978845608028654)
INV_SQRT2 = _F32(0.7071067811865476)


def _sigmoid(xp, x):
    with quiet(xp):
        return _F32(1.0) / (_F32(1.0) + xp.exp(-x))


def _gelu(xp, x, tanh_approx, _):
    if tanh_approx != 0.0:
        inner = SQRT_2_OVER_PI * (x + _F32(0.044715) * (x * x * x))
        return _F32(0.5) * x * (_F32(1.0) + xp.tanh(inner))
    return _F32(0.5) * x * (_F32(1.0) + erf(xp, x * INV_SQRT2))


def _softplus(xp, x, beta, threshold):
    bx = x * _F32(beta)
    with quiet(xp):
        soft = xp.log1p(xp.exp(bx)) / _F32(beta)
    return xp.where(bx > _F32(threshold), x, soft)


def _clamp(xp, x, lo, hi):
    if lo == lo:
        x = xp.where(x < _F32(lo), _F32(lo), x)
    if hi == hi:
        x = xp.where(x > _F32(hi), _F32(hi), x)
    return x


def _gelu_backward(xp, g, x, tanh_approx, _):
    if tanh_approx != 0.0:
        t = xp.tanh(SQRT_2_OVER_PI * (x + _F32(0.044715) * x * x * x))
        dinner = SQRT_2_OVER_PI * (_F32(1.0) + _F32(3.0 * 0.044715) * x * x)
        return g * (_F32(0.5) * (_F32(1.0) + t) + _F32(0.5) * x * (_F32(1.0) - t * t) * dinner)
    cdf = _F32(0.5) * (_F32(1.0) + erf(xp, x * INV_SQRT2))
    pdf = _F32(0.3989422804014327) * xp.exp(_F32(-0.5) * x * x)
    return g * (cdf + x * pdf)


def _silu_backward(xp, g, x, *_):
    s = _sigmoid(xp, x)
    return g * s * (_F32(1.0) + x * (_F32(1.0) - s))


def _clamp_backward(xp, g, x, lo, hi):
    """g where lo <= x <= hi (NaN bounds are absent; NaN x passes)."""
    if lo == lo:
        g = xp.where(x < _F32(lo), _F32(0.0), g)
    if hi == hi:
        g = xp.where(x > _F32(hi), _F32(0.0), g)
    return g * _F32(1.0)  # a fresh array when neither bound is set


def _scaled(b, alpha):
    return b if alpha == 1.0 else b * np.asarray(alpha, b.dtype)


def _div(xp, a, b, *_):
    with quiet(xp):
        return a / b


def _log(xp, x, *_):
    with quiet(xp):
        return xp.log(x)


def _sqrt(xp, x, *_):
    with quiet(xp):
        return xp.sqrt(x)


def _rsqrt(xp, x, *_):
    with quiet(xp):
        return _F32(1.0) / xp.sqrt(x)


def _pow(xp, a, b, *_):
    with quiet(xp):
        return xp.power(a, b)


# name -> f(xp, *operands, p0, p1): every op the fused engine runs (fused.cpp kFusedOps)
EW: dict[str, Any] = {
    "neg": lambda xp, x, p0, p1: -x,
    "abs": lambda xp, x, p0, p1: xp.abs(x),
    "exp": lambda xp, x, p0, p1: xp.exp(x),
    "log": _log,
    "sqrt": _sqrt,
    "rsqrt": _rsqrt,
    "sin": lambda xp, x, p0, p1: xp.sin(x),
    "cos": lambda xp, x, p0, p1: xp.cos(x),
    "tanh": lambda xp, x, p0, p1: xp.tanh(x),
    "sigmoid": lambda xp, x, p0, p1: _sigmoid(xp, x),
    "relu": lambda xp, x, p0, p1: xp.where(x > 0, x, x.dtype.type(0)),
    "silu": lambda xp, x, p0, p1: x * _sigmoid(xp, x),
    "leaky_relu": lambda xp, x, slope, p1: xp.where(x > 0, x, x * _F32(slope)),
    "gelu": _gelu,
    "softplus": _softplus,
    "clamp": _clamp,
    "add": lambda xp, a, b, alpha, p1: a + _scaled(b, alpha),
    "sub": lambda xp, a, b, alpha, p1: a - _scaled(b, alpha),
    "mul": lambda xp, a, b, p0, p1: a * b,
    "div": _div,
    "pow": _pow,
    "maximum": lambda xp, a, b, p0, p1: xp.maximum(a, b),
    "minimum": lambda xp, a, b, p0, p1: xp.minimum(a, b),
    "relu_backward": lambda xp, g, x, p0, p1: xp.where(x > 0, g, _F32(0.0)),
    "leaky_relu_backward": lambda xp, g, x, slope, p1: xp.where(x > 0, g, g * _F32(slope)),
    "sigmoid_backward": lambda xp, g, y, p0, p1: g * y * (_F32(1.0) - y),
    "tanh_backward": lambda xp, g, y, p0, p1: g * (_F32(1.0) - y * y),
    "silu_backward": _silu_backward,
    "gelu_backward": _gelu_backward,
    "softplus_backward": lambda xp, g, x, beta, threshold: xp.where(
        x * _F32(beta) > _F32(threshold), g, g * _sigmoid(xp, x * _F32(beta))),
    "clamp_backward": lambda xp, g, x, lo, hi: _clamp_backward(xp, g, x, lo, hi),
}


def fuse_values(op: Any, attrs: dict) -> tuple[float, float]:
    """p0, p1 of an op's EW function from its attrs, in OpDef.fuse_params order (the rule of
    tracer/passes/fuse.py fuse_values; a missing attr takes the op's default)."""
    values = []
    for entry in op.fuse_params or ():
        name, mapping = entry if isinstance(entry, tuple) else (entry, None)
        value = attrs.get(name, op.attrs.get(name))
        value = mapping[value] if mapping is not None else value
        values.append(math.nan if value is None else float(value))
    return tuple(values + [0.0] * (2 - len(values)))


def _register_fusable() -> None:
    from unified.ops.registry import lookup

    for name, fn in EW.items():
        op = lookup(name)

        def run(xp, *arrays, _fn=fn, _op=op, **attrs):
            return _fn(xp, *arrays, *fuse_values(_op, attrs))

        gpu(name)(run)


_register_fusable()

_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
            "gt": "greater", "ge": "greater_equal"}
for _name, _ufunc in _COMPARE.items():
    gpu(_name)(lambda xp, a, b, _u=_ufunc: getattr(xp, _u)(a, b))


@gpu("where")
def where(xp, cond, a, b):
    return xp.where(cond, a, b)


@gpu("cast")
def cast(xp, x, dtype):
    """A C-contiguous copy in `dtype` (float to int truncates toward zero, as static_cast)."""
    return xp.array(x, dtype=np.dtype(dtype), order="C", copy=True)


@gpu("sign")
def sign(xp, x):
    return xp.sign(x)
