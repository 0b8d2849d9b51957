"""Op table rows for unified/ops/elementwise.py (binary with broadcasting, comparisons, where,
cast, unary math, activations and, through the gradient checks, their backward ops)."""

import math

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


BINARY_SHAPES = [
    ("same", (3, 4), (3, 4)),
    ("row", (3, 4), (4,)),
    ("col", (3, 1), (1, 4)),
    ("scalar", (2, 3), ()),
    ("rank3", (2, 1, 3), (4, 1)),
    ("empty", (0, 3), (3,)),
]

CASES = []
for tag, sa, sb in BINARY_SHAPES:
    CASES += [
        OpCase(f"add_{tag}", lambda a, b: a + b, np.add, (Arg(sa), Arg(sb))),
        OpCase(f"sub_{tag}", lambda a, b: a - b, np.subtract, (Arg(sa), Arg(sb))),
        OpCase(f"mul_{tag}", lambda a, b: a * b, np.multiply, (Arg(sa), Arg(sb))),
        OpCase(f"div_{tag}", lambda a, b: a / b, np.divide, (Arg(sa), Arg(sb, "away"))),
        OpCase(f"maximum_{tag}", U.maximum, np.maximum, (Arg(sa, "distinct"), Arg(sb, "away"))),
        OpCase(f"minimum_{tag}", U.minimum, np.minimum, (Arg(sa, "distinct"), Arg(sb, "away"))),
    ]

CASES += [
    OpCase("pow_tensor", U.pow, np.power, (Arg((3, 4), "positive"), Arg((4,), "unit"))),
    OpCase("pow_scalar", lambda a: a**2.5, lambda a: a**2.5, (Arg((5,), "positive"),)),
    OpCase("rpow_scalar", lambda a: 2.0**a, lambda a: 2.0**a, (Arg((5,)),)),
    OpCase("add_noncontiguous", lambda a, b: a + b, np.add,
           (Arg((3, 4), layout="transposed"), Arg((3, 4), layout="strided"))),
    OpCase("mul_scalar_left", lambda a: 3.0 * a, lambda a: 3.0 * a, (Arg((2, 3)),)),
    OpCase("rsub_scalar", lambda a: 1.0 - a, lambda a: 1.0 - a, (Arg((2, 3)),)),
    OpCase("add_int", lambda a, b: a + b, np.add,
           (Arg((3, 4), "int", "int64", high=9), Arg((4,), "int", "int64")), exact=True),
    OpCase("mul_int32", lambda a, b: a * b, np.multiply,
           (Arg((3, 4), "int", "int32", high=9), Arg((3, 4), "int", "int32")), exact=True),
    OpCase("add_int_float_promotes", lambda a, b: a + b, np.add,
           (Arg((3,), "int", "int64"), Arg((3,)))),
    OpCase("div_int_is_true_division", lambda a, b: a / b, np.divide,
           (Arg((4,), "int", "int64", high=9), Arg((4,), value=[1, 2, 3, 4], dtype="int64"))),
    OpCase("maximum_int", U.maximum, np.maximum,
           (Arg((3, 4), "int", "int64", high=9), Arg((4,), "int", "int64", high=9)), exact=True),
    OpCase("minimum_int", U.minimum, np.minimum,
           (Arg((3, 4), "int", "int32", high=9), Arg((4,), "int", "int32", high=9)), exact=True),
]

for name, fn, ref in [
    ("eq", lambda a, b: a == b, np.equal), ("ne", lambda a, b: a != b, np.not_equal),
    ("lt", lambda a, b: a < b, np.less), ("le", lambda a, b: a <= b, np.less_equal),
    ("gt", lambda a, b: a > b, np.greater), ("ge", lambda a, b: a >= b, np.greater_equal),
]:
    CASES.append(OpCase(f"{name}_float", fn, ref, (Arg((3, 4), "int", high=3, dtype="float32"),
                                                    Arg((4,), "int", high=3, dtype="float32")),
                        grad=False, exact=True))
    CASES.append(OpCase(f"{name}_int", fn, ref, (Arg((2, 3), "int", "int64", high=3),
                                                  Arg((2, 3), "int", "int64", high=3)),
                        grad=False, exact=True))
CASES += [
    OpCase("eq_bool", lambda a, b: a == b, np.equal,
           (Arg((5,), "bool", "bool"), Arg((5,), "bool", "bool")), grad=False, exact=True),
    OpCase("lt_uint8", lambda a, b: a < b, np.less,
           (Arg((5,), "uint8", "uint8"), Arg((5,), "uint8", "uint8")), grad=False, exact=True),
    OpCase("where", lambda c, a, b: U.where(c, a, b), np.where,
           (Arg((3, 4), "bool", "bool"), Arg((3, 4)), Arg((4,)))),
    OpCase("where_scalar", lambda c, a: U.where(c, a, 0.0), lambda c, a: np.where(c, a, 0.0),
           (Arg((2, 3), "bool", "bool"), Arg((2, 3)))),
    OpCase("where_int", lambda c, a, b: U.where(c, a, b), np.where,
           (Arg((4,), "bool", "bool"), Arg((4,), "int", "int64"), Arg((4,), "int", "int64")),
           exact=True),
    OpCase("cast_float_to_int", lambda a: a.long(), lambda a: np.trunc(a).astype(np.int64),
           (Arg((3, 4), "normal"),), grad=False),
    OpCase("cast_int_to_float", lambda a: a.float(), lambda a: a.astype(np.float64),
           (Arg((3, 4), "int", "int64", high=100),)),
    OpCase("cast_float_to_bool", lambda a: a.bool(), lambda a: a != 0,
           (Arg((4,), value=[0.0, 1.5, -2.0, 0.0]),), grad=False),
    OpCase("cast_uint8_to_float", lambda a: a.float(), lambda a: a.astype(np.float64),
           (Arg((2, 8), "uint8", "uint8"),)),
    OpCase("cast_grad_float_copy", lambda a: a.clone() * 2.0, lambda a: a * 2.0,
           (Arg((3, 4), layout="transposed"),)),
]

UNARY = [
    ("neg", lambda x: -x, np.negative, "normal"),
    ("abs", U.abs, np.abs, "away"),
    ("sign", U.sign, np.sign, "away"),
    ("exp", U.exp, np.exp, "normal"),
    ("log", U.log, np.log, "positive"),
    ("sqrt", U.sqrt, np.sqrt, "positive"),
    ("rsqrt", U.rsqrt, lambda x: 1.0 / np.sqrt(x), "positive"),
    ("sin", U.sin, np.sin, "normal"),
    ("cos", U.cos, np.cos, "normal"),
    ("tanh", U.tanh, np.tanh, "normal"),
    ("sigmoid", U.sigmoid, _sigmoid, "normal"),
    ("relu", F.relu, lambda x: np.maximum(x, 0.0), "away"),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "away"),
    ("gelu", F.gelu, lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), "normal"),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh, "normal"),
    ("silu", F.silu, lambda x: x * _sigmoid(x), "normal"),
    ("softplus", F.softplus, _softplus, "normal"),
    ("softplus_beta", lambda x: F.softplus(x, beta=2.0, threshold=1.0),
     lambda x: _softplus(x, 2.0, 1.0), "away"),
    ("clamp", lambda x: U.clamp(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), "away"),
    ("clamp_min", lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), "away"),
]
for name, fn, ref, kind in UNARY:
    CASES.append(OpCase(f"{name}", fn, ref, (Arg((3, 5), kind),)))
    CASES.append(OpCase(f"{name}_noncontiguous", fn, ref,
                        (Arg((4, 3), kind, layout="transposed"),)))
CASES += [
    OpCase("neg_int", lambda x: -x, np.negative, (Arg((4,), "int", "int64"),), exact=True),
    OpCase("abs_int", U.abs, np.abs, (Arg((4,), value=[-3, 0, 2, -1], dtype="int32"),), exact=True),
    OpCase("exp_empty", U.exp, np.exp, (Arg((0, 4)),)),
    OpCase("relu_scalar", F.relu, lambda x: np.maximum(x, 0), (Arg((), "away"),)),
    OpCase("exp_size1_axes", U.exp, np.exp, (Arg((1, 3, 1)),)),
]


# Second-order gradients through backward ops that are linear in their gradient input.
def _double(fn):
    def run(x):
        if not x.requires_grad:  # the forward-only check passes plain tensors
            x = x.detach().requires_grad_()
        (g,) = U.autograd.grad(fn(x).sum(), [x], create_graph=True)
        return g * x

    return run


CASES += [
    OpCase("relu_double_backward", _double(F.relu), lambda x: np.where(x > 0, 1.0, 0.0) * x,
           (Arg((4,), "away"),)),
    OpCase("leaky_relu_double_backward", _double(lambda x: F.leaky_relu(x, 0.1)),
           lambda x: np.where(x > 0, 1.0, 0.1) * x, (Arg((4,), "away"),)),
    OpCase("sigmoid_double_backward", _double(U.sigmoid),
           lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * x, (Arg((4,)),)),
    OpCase("tanh_double_backward", _double(U.tanh), lambda x: (1 - np.tanh(x) ** 2) * x,
           (Arg((4,)),)),
    OpCase("clamp_double_backward", _double(lambda x: U.clamp(x, -0.5, 0.5)),
           lambda x: np.where(np.abs(x) <= 0.5, 1.0, 0.0) * x, (Arg((4,), "away"),)),
]
