"""Elementwise ops: binary arithmetic and comparisons (NumPy broadcasting), where, cast, unary
math and activations, and the backward ops of activations.
Kernels: core_cpp/kernels/elementwise.cpp.
Callers promote mixed dtypes first (functional/math.py), so binary kernels see one dtype."""

from __future__ import annotations

import numpy as np

from unified.ops import infer
from unified.ops.registry import F, OpDef, TensorMeta, Trait, register

EW = frozenset({Trait.ELEMENTWISE, Trait.INPLACE_OK})
EWC = EW | {Trait.COMMUTATIVE}


def _binary(name, grad, onnx, traits=EW, saves_inputs=True, float_only=False, saves_output=False,
            fuse=()):
    return register(OpDef(
        name=name, inputs=("a", "b"),
        infer=infer.binary_float(name) if float_only else infer.binary(name),
        kernel=name, grad=grad, traits=traits, onnx=onnx, saves_inputs=saves_inputs,
        saves_output=saves_output, same_shape_fast=True, fuse_params=fuse,
    ))


def _pair(a, b, grad_a, grad_b):
    """Gradients of a broadcasting binary op, computed only for inputs that require grad
    (grad_a/grad_b are thunks), each summed back to its input's shape."""
    return (F.sum_to(grad_a(), a.shape) if a.requires_grad else None,
            F.sum_to(grad_b(), b.shape) if b.requires_grad else None)


def _extremum_grad(pick):
    def grad(g, a, b, out):
        # the chosen side gets g; ties split it evenly (as PyTorch does)
        share = F.add(F.cast(pick(a, b), np.float32), F.mul(F.cast(F.eq(a, b), np.float32), 0.5))
        return _pair(a, b, lambda: F.mul(g, share), lambda: F.mul(g, F.sub(1.0, share)))

    return grad


def _pow_grad(g, a, b, out):
    def grad_b():
        log_a = F.log(F.where(F.gt(a, 0.0), a, 1.0))  # d/db a^b = a^b log a, 0 where a <= 0
        return F.mul(g, F.mul(out, log_a))

    return _pair(a, b, lambda: F.mul(g, F.mul(b, F.pow(a, F.sub(b, 1.0)))), grad_b)


def _scaled_onnx(op_type):
    """a + alpha * b (Add) or a - alpha * b (Sub): alpha scales b first unless it is 1."""
    def lower(b, inputs, attrs, in_metas, out_metas):
        x, y = inputs
        if attrs["alpha"] != 1.0:
            y = b.one("Mul", [y, b.scalar(attrs["alpha"], in_metas[1].dtype)])
        return [b.one(op_type, [x, y])]

    return lower


add = _binary("add", lambda g, a, b, out, alpha=1.0: _pair(
    a, b, lambda: g, lambda: g if alpha == 1.0 else F.mul(g, alpha)), _scaled_onnx("Add"), EWC,
    saves_inputs=False, fuse=("alpha",))
sub = _binary("sub", lambda g, a, b, out, alpha=1.0: _pair(
    a, b, lambda: g, lambda: F.mul(g, -alpha)), _scaled_onnx("Sub"), saves_inputs=False,
    fuse=("alpha",))
add.attrs = sub.attrs = {"alpha": 1.0}  # a + alpha * b (PyTorch's alpha); float32 when != 1
mul = _binary("mul", lambda g, a, b, out: _pair(a, b, lambda: F.mul(g, b), lambda: F.mul(g, a)),
              "Mul", EWC)
div = _binary("div", lambda g, a, b, out: _pair(a, b, lambda: F.div(g, b),
                                                lambda: F.neg(F.mul(F.div(g, b), out))),
              "Div", float_only=True, saves_output=True)
pow = _binary("pow", _pow_grad, "Pow", float_only=True, saves_output=True)
maximum = _binary("maximum", _extremum_grad(lambda a, b: F.gt(a, b)), "Max", EWC)
minimum = _binary("minimum", _extremum_grad(lambda a, b: F.lt(a, b)), "Min", EWC)


def _compare(name, onnx):
    return register(OpDef(name=name, inputs=("a", "b"), infer=infer.compare(name), kernel=name,
                          grad=None, traits=EW, onnx=onnx))


eq = _compare("eq", "Equal")
ne = _compare("ne", lambda b, inputs, attrs, in_metas, out_metas: [
    b.one("Not", [b.one("Equal", inputs)])])
lt = _compare("lt", "Less")
le = _compare("le", "LessOrEqual")
gt = _compare("gt", "Greater")
ge = _compare("ge", "GreaterOrEqual")


def _where_infer(cond, a, b):
    if cond.dtype != np.bool_:
        raise infer.DTypeError(f"where: condition must be bool, got {cond.dtype}")
    dtype = infer.same_dtype("where", a, b)
    return TensorMeta(infer.broadcast_shapes("where", cond.shape, a.shape, b.shape), dtype)


def _where_grad(g, cond, a, b, out):
    zero = F.zeros_like(g)
    return (None,) + _pair(a, b, lambda: F.where(cond, g, zero), lambda: F.where(cond, zero, g))


where = register(OpDef(name="where", inputs=("condition", "a", "b"), infer=_where_infer,
                       kernel="where", grad=_where_grad, traits=EW, onnx="Where"))


def _cast_infer(x, dtype):
    return TensorMeta(x.shape, np.dtype(dtype))


def _cast_grad(g, x, out, dtype):
    return F.cast(g, x.dtype) if x.dtype == np.float32 else None


cast = register(OpDef(
    name="cast", inputs=("x",), infer=_cast_infer, kernel="cast", grad=_cast_grad,
    attrs={"dtype": None}, traits=EW, saves_inputs=False,
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.cast(inputs[0], out_metas[0].dtype)],
    doc="convert to `dtype`; with the same dtype, a strided copy (clone/contiguous)",
))


def _unary(name, grad, onnx, numeric=False, saves_output=False, saves_inputs=True, attrs=None,
           fuse=()):
    return register(OpDef(
        name=name, inputs=("x",),
        infer=infer.unary_numeric(name) if numeric else infer.unary_float(name),
        kernel=name, grad=grad, traits=EW, onnx=onnx, saves_output=saves_output,
        saves_inputs=saves_inputs, attrs=attrs or {}, same_shape_fast=True, fuse_params=fuse,
    ))


neg = _unary("neg", lambda g, x, out: F.neg(g), "Neg", numeric=True, saves_inputs=False)
abs = _unary("abs", lambda g, x, out: F.mul(g, F.sign(x)), "Abs", numeric=True)
sign = _unary("sign", lambda g, x, out: F.zeros_like(g), "Sign", numeric=True, fuse=None)
exp = _unary("exp", lambda g, x, out: F.mul(g, out), "Exp", saves_output=True, saves_inputs=False)
log = _unary("log", lambda g, x, out: F.div(g, x), "Log")
sqrt = _unary("sqrt", lambda g, x, out: F.div(F.mul(g, 0.5), out), "Sqrt", saves_output=True,
              saves_inputs=False)
rsqrt = _unary("rsqrt", lambda g, x, out: F.mul(F.mul(g, -0.5), F.mul(out, F.mul(out, out))),
               lambda b, inputs, attrs, in_metas, out_metas: [
                   b.one("Reciprocal", [b.one("Sqrt", inputs)])],
               saves_output=True, saves_inputs=False)
sin = _unary("sin", lambda g, x, out: F.mul(g, F.cos(x)), "Sin")
cos = _unary("cos", lambda g, x, out: F.neg(F.mul(g, F.sin(x))), "Cos")


def _bw(name, doc, grad=None, attrs=None, fuse=()):
    """A backward op: (grad, saved) -> grad of the input; saved is the forward input or output."""
    return register(OpDef(name=name, inputs=("grad", "saved"), infer=infer.backward_float(name),
                          kernel=name, grad=grad, traits=EW, attrs=attrs or {}, doc=doc,
                          onnx_unsupported="backward ops are not exported", same_shape_fast=True,
                          fuse_params=fuse))


# fuse_params (OpDef): the attrs that become p0, p1 of the op's ew:: function
SLOPE = ("negative_slope",)
APPROXIMATE = (("approximate", {"none": 0.0, "tanh": 1.0}),)
SOFTPLUS = ("beta", "threshold")
BOUNDS = ("min", "max")


# Backward ops linear in `grad` differentiate to themselves; the rest are not differentiable twice.
relu_backward = _bw("relu_backward", "g * (x > 0)",
                    lambda gg, g, x, out: (F.call_op(relu_backward, gg, x), None))
leaky_relu_backward = _bw(
    "leaky_relu_backward", "g * (x > 0 ? 1 : slope)",
    lambda gg, g, x, out, negative_slope: (
        F.call_op(leaky_relu_backward, gg, x, negative_slope=negative_slope), None),
    attrs={"negative_slope": 0.01}, fuse=SLOPE)
sigmoid_backward = _bw(
    "sigmoid_backward", "g * y * (1 - y), y = sigmoid(x)",
    lambda gg, g, y, out: (F.call_op(sigmoid_backward, gg, y),
                           F.mul(F.mul(gg, g), F.sub(1.0, F.mul(y, 2.0)))))
tanh_backward = _bw(
    "tanh_backward", "g * (1 - y^2), y = tanh(x)",
    lambda gg, g, y, out: (F.call_op(tanh_backward, gg, y), F.mul(F.mul(gg, g), F.mul(y, -2.0))))
silu_backward = _bw("silu_backward", "g * d silu(x)/dx")
gelu_backward = _bw("gelu_backward", "g * d gelu(x)/dx", attrs={"approximate": "none"},
                    fuse=APPROXIMATE)
softplus_backward = _bw("softplus_backward", "g * sigmoid(beta x)",
                        attrs={"beta": 1.0, "threshold": 20.0}, fuse=SOFTPLUS)
clamp_backward = _bw(
    "clamp_backward", "g where min <= x <= max",
    lambda gg, g, x, out, min, max: (F.call_op(clamp_backward, gg, x, min=min, max=max), None),
    attrs={"min": float("nan"), "max": float("nan")}, fuse=BOUNDS)

# ---- ONNX lowerings of the activations without a 1:1 ONNX op (written with float32 consts) ----
def _silu_onnx(b, inputs, attrs, in_metas, out_metas):
    return [b.one("Mul", [inputs[0], b.one("Sigmoid", inputs)])]


def _leaky_relu_onnx(b, inputs, attrs, in_metas, out_metas):
    return [b.one("LeakyRelu", inputs, alpha=float(attrs["negative_slope"]))]


def _gelu_onnx(b, inputs, attrs, in_metas, out_metas):
    """0.5 x (1 + erf(x / sqrt 2)), or with approximate="tanh"
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): the kernel's formulas."""
    x = inputs[0]

    def c(v):
        return b.scalar(v, np.float32)

    if attrs["approximate"] == "tanh":
        cube = b.one("Mul", [b.one("Mul", [x, x]), x])
        inner = b.one("Mul", [c(0.7978845608028654), b.one("Add", [x, b.one("Mul", [c(0.044715),
                                                                                   cube])])])
        t = b.one("Tanh", [inner])
    else:
        t = b.one("Erf", [b.one("Mul", [x, c(0.7071067811865476)])])
    return [b.one("Mul", [b.one("Mul", [c(0.5), x]), b.one("Add", [c(1.0), t])])]


def _softplus_onnx(b, inputs, attrs, in_metas, out_metas):
    """log(1 + exp(beta x)) / beta, x itself where beta x > threshold (PyTorch's rule)."""
    x = inputs[0]
    beta = b.scalar(attrs["beta"], np.float32)
    bx = b.one("Mul", [x, beta])
    soft = b.one("Div", [b.one("Softplus", [bx]), beta])
    return [b.one("Where", [b.one("Greater", [bx, b.scalar(attrs["threshold"], np.float32)]), x,
                            soft])]


def _clamp_onnx(b, inputs, attrs, in_metas, out_metas):
    """Clip with the bounds that are set (NaN: no bound)."""
    bounds = [b.scalar(attrs[k], np.float32) if attrs[k] == attrs[k] else "" for k in BOUNDS]
    while bounds and bounds[-1] == "":
        bounds.pop()
    return [b.one("Clip", [inputs[0]] + bounds)]


# relu's grad reads its output (out > 0 iff x > 0), so relu can fuse with what produced x
relu = _unary("relu", lambda g, x, out: F.call_op(relu_backward, g, out), "Relu",
              saves_output=True, saves_inputs=False)
sigmoid = _unary("sigmoid", lambda g, x, out: F.call_op(sigmoid_backward, g, out), "Sigmoid",
                 saves_output=True, saves_inputs=False)
tanh = _unary("tanh", lambda g, x, out: F.call_op(tanh_backward, g, out), "Tanh",
              saves_output=True, saves_inputs=False)
silu = _unary("silu", lambda g, x, out: F.call_op(silu_backward, g, x), _silu_onnx)
leaky_relu = _unary(
    "leaky_relu", lambda g, x, out, negative_slope: F.call_op(
        leaky_relu_backward, g, x, negative_slope=negative_slope),
    _leaky_relu_onnx, attrs={"negative_slope": 0.01}, fuse=SLOPE)
gelu = _unary("gelu", lambda g, x, out, approximate: F.call_op(
    gelu_backward, g, x, approximate=approximate), _gelu_onnx, attrs={"approximate": "none"},
    fuse=APPROXIMATE)
softplus = _unary("softplus", lambda g, x, out, beta, threshold: F.call_op(
    softplus_backward, g, x, beta=beta, threshold=threshold), _softplus_onnx,
    attrs={"beta": 1.0, "threshold": 20.0}, fuse=SOFTPLUS)
clamp = _unary("clamp", lambda g, x, out, min, max: F.call_op(
    clamp_backward, g, x, min=min, max=max),
               _clamp_onnx, attrs={"min": float("nan"), "max": float("nan")}, fuse=BOUNDS)
