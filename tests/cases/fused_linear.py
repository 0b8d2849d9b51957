"""Op table rows for unified/ops/fused_linear.py: activation(x @ W^T + b) against NumPy, for
relu, leaky_relu (p0 = slope) and clamp (p0, p1 = bounds), with a 3-D and a transposed input."""

import numpy as np

from tests.op_cases import Arg, OpCase
from unified.functional import call_op
from unified.ops.fused_linear import fused_linear


def _fused(activation, p0=0.0, p1=0.0):
    return lambda x, w, b: call_op(fused_linear, x, w, b, activation=activation, p0=p0, p1=p1)


def _affine(x, w, b):
    return x @ w.T + b


CASES = [
    OpCase("fused_linear_relu", _fused("relu"), lambda x, w, b: np.maximum(_affine(x, w, b), 0),
           (Arg((5, 7)), Arg((4, 7)), Arg((4,))), grad=False),
    OpCase("fused_linear_leaky_relu_3d", _fused("leaky_relu", 0.1),
           lambda x, w, b: np.where(_affine(x, w, b) > 0, _affine(x, w, b), 0.1 * _affine(x, w, b)),
           (Arg((2, 3, 6)), Arg((5, 6)), Arg((5,))), grad=False),
    OpCase("fused_linear_clamp_transposed", _fused("clamp", -0.5, 0.5),
           lambda x, w, b: np.clip(_affine(x, w, b), -0.5, 0.5),
           (Arg((3, 6), layout="transposed"), Arg((4, 6)), Arg((4,))), grad=False),
]
