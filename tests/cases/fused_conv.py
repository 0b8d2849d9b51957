"""Op table rows for unified/ops/fused_conv.py: activation(conv2d(x, W, b)) against NumPy's
direct convolution (tests/cases/conv.py), for relu (im2col path, stride 2 and padding),
leaky_relu (p0 = slope; grouped), clamp (p0, p1 = bounds; Winograd path) and a strided input."""

import numpy as np

from tests.cases.conv import conv2d_ref
from tests.op_cases import Arg, OpCase
from unified.functional import call_op
from unified.ops.fused_conv import fused_conv2d


def _fused(activation, p0=0.0, p1=0.0, stride=(1, 1), padding=(0, 0, 0, 0), groups=1):
    attrs = {"stride": stride, "padding": padding, "dilation": (1, 1), "groups": groups,
             "activation": activation, "p0": p0, "p1": p1}
    return lambda x, w, b: call_op(fused_conv2d, x, w, b, **attrs)


def _ref(act, stride=(1, 1), padding=(0, 0, 0, 0), groups=1):
    return lambda x, w, b: act(conv2d_ref(x, w, b, stride, padding, (1, 1), groups))


_PAD1 = (1, 1, 1, 1)
CASES = [
    OpCase("fused_conv2d_relu", _fused("relu", stride=(2, 2), padding=_PAD1),
           _ref(lambda y: np.maximum(y, 0), (2, 2), _PAD1),
           (Arg((2, 3, 7, 6)), Arg((4, 3, 3, 3)), Arg((4,))), grad=False),
    OpCase("fused_conv2d_leaky_relu_groups", _fused("leaky_relu", 0.1, groups=2),
           _ref(lambda y: np.where(y > 0, y, 0.1 * y), groups=2),
           (Arg((1, 4, 5, 5)), Arg((6, 2, 2, 2)), Arg((6,))), grad=False),
    OpCase("fused_conv2d_clamp_winograd", _fused("clamp", -0.5, 0.5, padding=_PAD1),
           _ref(lambda y: np.clip(y, -0.5, 0.5), padding=_PAD1),
           (Arg((1, 16, 9, 7)), Arg((16, 16, 3, 3)), Arg((16,))), grad=False,
           rtol=1e-4, atol=1e-4),
    OpCase("fused_conv2d_relu_strided_input", _fused("relu", padding=_PAD1),
           _ref(lambda y: np.maximum(y, 0), padding=_PAD1),
           (Arg((1, 2, 4, 5), layout="strided"), Arg((3, 2, 3, 3)), Arg((3,))), grad=False),
]
