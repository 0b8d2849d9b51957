"""GPU implementations of the matmul family (unified/ops/matmul.py, fused_linear.py): matmul
and linear run cuBLAS through xp.matmul (CuPy); fused_linear adds the activation from the
elementwise table (elementwise.py EW) after the GEMM."""

from __future__ import annotations

from unified.ops.gpu._table import gpu
from unified.ops.gpu.elementwise import EW


@gpu("matmul")
def matmul(xp, a, b):
    return xp.matmul(a, b)


@gpu("linear")
def linear(xp, x, w, b):
    return xp.matmul(x, w.T) + b


@gpu("fused_linear")
def fused_linear(xp, x, w, b, activation, p0, p1):
    return EW[activation](xp, linear(xp, x, w, b), p0, p1)
