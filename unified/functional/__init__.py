"""unified.functional: the functions behind every tensor method and nn layer, with
torch.nn.functional's and torch's names and defaults. Each is a thin call to a registered op
through the dispatcher (unified/dispatch.py); one module per op family."""

from unified.functional._call import call_op
from unified.functional.activation import (
    gelu, leaky_relu, relu, relu_, sigmoid, silu, softplus, tanh,
)
from unified.functional.math import (
    abs, add, add_, cast, clamp, clamp_, clip, clone, copy_, cos, div, div_, eq, exp, fill_, ge,
    gt, le, log, lt, maximum, minimum, mul, mul_, ne, neg, pow, rsqrt, sign, sin, sqrt, sub, where,
)
from unified.functional.reduction import sum_to
