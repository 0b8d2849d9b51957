"""matmul (the matrix product with PyTorch semantics: 1-D, 2-D, batched N-D with broadcast batch
dims) and linear (x @ W^T + b in one GEMM). Kernels: core_cpp/kernels/matmul.cpp (Eigen's GEMM).
mm, bmm, mv and dot are matmul in unified/functional/linalg.py; conv (unified/ops/conv.py) calls
the same GEMM from C++."""

from __future__ import annotations

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.infer import F32, require_float
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


def _linear_infer(x, w, b):
    for role, m in (("input", x), ("weight", w), ("bias", b)):
        require_float("linear", m, role)
    if len(w.shape) != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got "
                         f"{fmt_shape(w.shape)}")
    if len(x.shape) == 0 or x.shape[-1] != w.shape[1]:
        raise ShapeError(f"linear: input has {x.shape[-1] if len(x.shape) else 0} features but "
                         f"weight expects {w.shape[1]} (input {fmt_shape(x.shape)}, weight "
                         f"{fmt_shape(w.shape)})")
    if tuple(b.shape) != (w.shape[0],):
        raise ShapeError(f"linear: bias must have shape ({w.shape[0]},) for weight "
                         f"{fmt_shape(w.shape)}, got {fmt_shape(b.shape)}")
    return TensorMeta(tuple(x.shape[:-1]) + (w.shape[0],), F32)


def _linear_grad(g, x, w, b, out):
    """With g2 and x2 the gradient and input as (rows, features) matrices (leading dims
    flattened): dx = g W (matmul keeps x's leading dims), dW = g2^T x2 (a fresh contiguous
    (out, in) array, so accumulating it into a leaf needs no copy), db = g2 summed over rows."""
    needs = [getattr(t, "requires_grad", True) for t in (x, w, b)]  # metas in traced mode
    g2 = F.reshape(g, (-1, w.shape[0])) if len(g.shape) != 2 else g
    grad_x = F.matmul(g, w) if needs[0] else None
    grad_w = grad_b = None
    if needs[1]:
        x2 = F.reshape(x, (-1, w.shape[1])) if len(x.shape) != 2 else x
        grad_w = F.matmul(F.transpose(g2, 0, 1), x2)
    if needs[2]:
        grad_b = F.sum(g2, 0)
    return grad_x, grad_w, grad_b


def _linear_onnx(b, inputs, attrs, in_metas, out_metas):
    """Gemm(transB=1) for 2-D input, MatMul with the transposed weight + bias otherwise."""
    x, weight, bias = inputs
    if len(in_metas[0].shape) == 2:
        return [b.one("Gemm", [x, weight, bias], transB=1)]
    y = b.one("MatMul", [x, b.one("Transpose", [weight], perm=[1, 0])])
    return [b.one("Add", [y, bias])]


linear = register(OpDef(
    name="linear", inputs=("input", "weight", "bias"), infer=_linear_infer, kernel="linear",
    grad=_linear_grad, onnx=_linear_onnx,
    doc="input (..., in) @ weight(out, in)^T + bias (out,); bias is always passed (F.linear "
        "passes a shared zero vector when there is none)",
))
