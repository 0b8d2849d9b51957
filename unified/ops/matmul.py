"""matmul: the matrix product with PyTorch semantics (1-D, 2-D, batched N-D with broadcast batch
dims). Kernel: core_cpp/kernels/matmul.cpp (Eigen's GEMM). linear, mm and bmm are built on it in
unified/functional/linalg.py; conv (unified/ops/conv.py) calls the same GEMM from C++."""

from __future__ import annotations

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.infer import F32
from unified.ops.registry import F, OpDef, TensorMeta, register


def _batch_shape(a, b) -> tuple[int, ...]:
    """Broadcast of the batch dims (all but the last two), naming both full shapes on error."""
    sa, sb = tuple(a.shape[:-2]), tuple(b.shape[:-2])
    ndim = max(len(sa), len(sb))
    sa, sb = (1,) * (ndim - len(sa)) + sa, (1,) * (ndim - len(sb)) + sb
    out = []
    for da, db in zip(sa, sb):
        if da != db and da != 1 and db != 1:
            raise ShapeError(f"matmul: batch dimensions of a {fmt_shape(a.shape)} and b "
                             f"{fmt_shape(b.shape)} cannot be broadcast ({da} vs {db})")
        out.append(db if da == 1 else da)
    return tuple(out)


def matmul_infer(a, b):
    for role, m in (("a", a), ("b", b)):
        if m.dtype != F32:
            raise DTypeError(f"matmul: {role} must be float32, got {m.dtype} "
                             f"(shape {fmt_shape(m.shape)}); cast with .float()")
        if len(m.shape) == 0:
            raise ShapeError(f"matmul: both arguments need at least one dimension, got a "
                             f"{fmt_shape(a.shape)} and b {fmt_shape(b.shape)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if len(b.shape) == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(f"matmul: inner dimensions differ: a is {fmt_shape(a.shape)}, b is "
                         f"{fmt_shape(b.shape)} ({k_a} != {k_b})")
    rows = (a.shape[-2],) if len(a.shape) >= 2 else ()
    cols = (b.shape[-1],) if len(b.shape) >= 2 else ()
    return TensorMeta(_batch_shape(a, b) + rows + cols, F32)


def _matmul_grad(g, a, b, out):
    """Both operands as (batch..., rows, cols) matrices; a 1-D operand is one row (a) or one
    column (b), so its gradient drops that axis again."""
    a2 = F.unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = F.unsqueeze(b, -1) if b.ndim == 1 else b
    g2 = F.unsqueeze(g, -1) if b.ndim == 1 else g
    g2 = F.unsqueeze(g2, -2) if a.ndim == 1 else g2
    grad_a = grad_b = None
    if getattr(a, "requires_grad", True):
        grad_a = F.sum_to(F.matmul(g2, F.transpose(b2, -2, -1)), a2.shape)
        grad_a = F.reshape(grad_a, a.shape) if a.ndim == 1 else grad_a
    if getattr(b, "requires_grad", True):
        grad_b = F.sum_to(F.matmul(F.transpose(a2, -2, -1), g2), b2.shape)
        grad_b = F.reshape(grad_b, b.shape) if b.ndim == 1 else grad_b
    return grad_a, grad_b


matmul = register(OpDef(
    name="matmul", inputs=("a", "b"), infer=matmul_infer, kernel="matmul", grad=_matmul_grad,
    onnx="MatMul",
    doc="a @ b: 1-D operands are a row (a) or a column (b); batch dims broadcast",
))
