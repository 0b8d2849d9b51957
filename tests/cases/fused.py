"""Op table rows for unified/ops/fused.py: fused_elementwise programs (as tracer/passes/fuse.py
builds them) against NumPy, with contiguous, transposed (gathered per tile) and 0-d inputs."""

import numpy as np

from tests.op_cases import Arg, OpCase
from unified.functional import call_op
from unified.ops.fused import fused_elementwise


def _program(ops, regs, params, num_regs):
    return lambda *xs: call_op(fused_elementwise, *xs, ops=ops, regs=regs, params=params,
                               num_regs=num_regs)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


CASES = [
    # r2 = x * s, r3 = tanh r2, r2 = r3 + x (alpha 2.0)
    OpCase("fused_mul_tanh_add", _program("mul tanh add", (2, 0, 1, 3, 2, -1, 2, 3, 0),
                                          (0.0, 0.0, 0.0, 0.0, 2.0, 0.0), 4),
           lambda x, s: np.tanh(x * s) + 2.0 * x, (Arg((3, 5)), Arg(())), grad=False),
    # r2 = sigmoid a, r3 = r2 * b, r2 = clamp r3 [-0.2, nan]
    OpCase("fused_transposed_input", _program("sigmoid mul clamp", (2, 0, -1, 3, 2, 1, 2, 3, -1),
                                              (0.0, 0.0, 0.0, 0.0, -0.2, float("nan")), 4),
           lambda a, b: np.maximum(_sigmoid(a) * b, -0.2),
           (Arg((4, 6), layout="transposed"), Arg((4, 6), layout="strided")), grad=False),
    OpCase("fused_0d", _program("exp neg", (1, 0, -1, 2, 1, -1), (0.0,) * 4, 3),
           lambda x: -np.exp(x), (Arg(()),), grad=False),
]
