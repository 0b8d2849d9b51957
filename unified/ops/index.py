"""Index ops: advanced (integer-array) indexing and its put/accumulate forms, index_select,
gather, embedding, masked_fill, and the backward ops that add gradients into zeros.
Kernels: core_cpp/kernels/index.cpp (out-of-range indices give an IndexError naming the value).
Basic slicing is the `slice` view in shape.py; key parsing lives in functional/indexing.py."""

from __future__ import annotations

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops import infer as common
from unified.ops.registry import F, OpDef, TensorMeta, Trait, register

BACKWARD = "backward ops are not exported"


# ---- advanced indexing: index / index_backward / index_put ----------------------------------
def index_shape(op: str, x_shape: tuple, indices: tuple, dims: tuple) -> tuple[int, ...]:
    """NumPy's rule for x[..., i0, i1, ...] on `dims`: the index tensors broadcast to B; B
    replaces the indexed dims in place when they are consecutive, else it goes first."""
    ndim = len(x_shape)
    if len(dims) != len(indices) or not indices:
        raise ShapeError(f"{op}: {len(indices)} index tensors for dims {tuple(dims)}")
    if any(not 0 <= d < ndim for d in dims) or list(dims) != sorted(set(dims)):
        raise ShapeError(f"{op}: dims {tuple(dims)} must be increasing and within the "
                         f"{ndim} dimensions of input {fmt_shape(x_shape)}")
    for i, idx in enumerate(indices):
        common.require_index(op, idx, f"index tensor {i}")
    batch = common.broadcast_shapes(op, *(tuple(idx.shape) for idx in indices))
    first, k = dims[0], len(dims)
    if tuple(dims) == tuple(range(first, first + k)):
        return tuple(x_shape[:first]) + batch + tuple(x_shape[first + k:])
    return batch + tuple(s for d, s in enumerate(x_shape) if d not in dims)


def _index_infer(x, *indices, dims):
    return TensorMeta(index_shape("index", x.shape, indices, dims), x.dtype)


def _index_grad(g, x, *indices, out, dims):
    gx = F.call_op(index_backward, g, *indices, shape=tuple(x.shape), dims=dims)
    return (gx,) + (None,) * len(indices)


# ---- ONNX: the index tensors as one GatherND/ScatterND index (B..., k) over x's indexed dims,
# moved to the front. Negative indices are wrapped with each dim's size (fixed at export).
def _stacked_indices(b, indices, in_metas, x_shape, dims):
    """The k index tensors as int64, wrapped to [0, n), broadcast together and stacked on a new
    last axis: shape B + (k,)."""
    wrapped = []
    for name, meta, d in zip(indices, in_metas, dims):
        i = b.cast(name, np.int64) if meta.dtype != np.int64 else name
        n = b.scalar(x_shape[d], np.int64)
        wrapped.append(b.one("Where", [b.one("Less", [i, b.scalar(0, np.int64)]),
                                       b.one("Add", [i, n]), i]))
    zeros = wrapped[0] if len(wrapped) == 1 else None
    if zeros is None:  # broadcast every index to B: add the others times zero
        zeros = b.one("Mul", [wrapped[0], b.scalar(0, np.int64)])
        for w in wrapped[1:]:
            zeros = b.one("Add", [zeros, b.one("Mul", [w, b.scalar(0, np.int64)])])
        wrapped = [b.one("Add", [w, zeros]) for w in wrapped]
    return b.one("Concat", [b.unsqueeze(w, [-1]) for w in wrapped], axis=-1)


def _front_perm(ndim: int, dims: tuple) -> list[int]:
    return list(dims) + [d for d in range(ndim) if d not in dims]


def _consecutive(dims: tuple) -> bool:
    return tuple(dims) == tuple(range(dims[0], dims[0] + len(dims)))


def _index_onnx(b, inputs, attrs, in_metas, out_metas):
    """One index: Gather (negative indices wrap there too). Several: GatherND on x with the
    indexed dims moved first; the batch shape B then goes back between the leading dims and
    the rest when the dims were consecutive (NumPy's rule, index_shape)."""
    x, indices, dims = inputs[0], inputs[1:], tuple(attrs["dims"])
    shape = tuple(in_metas[0].shape)
    if len(dims) == 1:
        return [b.one("Gather", [x, indices[0]], axis=dims[0])]
    b.require_static(0, dims, "advanced indexing wraps negative indices by the dim's size")
    ndim, n_batch = len(shape), len(out_metas[0].shape) - (len(shape) - len(dims))
    moved = b.one("Transpose", [x], perm=_front_perm(ndim, dims))
    y = b.one("GatherND", [moved, _stacked_indices(b, indices, in_metas[1:], shape, dims)])
    first = dims[0]
    if _consecutive(dims) and first > 0:
        perm = [n_batch + j for j in range(first)] + list(range(n_batch)) + list(
            range(n_batch + first, len(out_metas[0].shape)))
        y = b.one("Transpose", [y], perm=perm)
    return [y]


index = register(OpDef(
    name="index", inputs=("x", "*indices"), infer=_index_infer, kernel="index",
    grad=_index_grad, attrs={"dims": ()}, onnx=_index_onnx,
    doc="x[..., i0, ..., i1, ...]: integer index tensors (broadcast together) on `dims`; "
        "negative indices count from the end",
))


def _index_backward_infer(g, *indices, shape, dims):
    common.require_float("index_backward", g, "grad")
    want = index_shape("index_backward", tuple(shape), indices, dims)
    if tuple(g.shape) != want:
        raise ShapeError(f"index_backward: grad {fmt_shape(g.shape)} does not match the "
                         f"indexed shape {fmt_shape(want)} of input {fmt_shape(shape)}")
    return TensorMeta(tuple(shape), g.dtype)


index_backward = register(OpDef(
    name="index_backward", inputs=("grad", "*indices"), infer=_index_backward_infer,
    kernel="index_backward",
    grad=lambda gg, g, *indices, out, shape, dims: (
        (F.call_op(index, gg, *indices, dims=dims),) + (None,) * len(indices)),
    attrs={"shape": (), "dims": ()}, onnx_unsupported=BACKWARD,
    doc="zeros of `shape` with grad added at the indexed positions (repeats accumulate)",
))


def _index_put_infer(x, values, *indices, dims, accumulate):
    want = index_shape("index_put", x.shape, indices, dims)
    if tuple(values.shape) != want:
        raise ShapeError(f"index_put: values {fmt_shape(values.shape)} do not match the "
                         f"indexed shape {fmt_shape(want)} of input {fmt_shape(x.shape)}")
    common.same_dtype("index_put", x, values)
    return TensorMeta(tuple(x.shape), x.dtype)


def _index_put_grad(g, x, values, *indices, out, dims, accumulate):
    g_values = F.call_op(index, g, *indices, dims=dims)
    if accumulate:
        g_x = g
    else:
        g_x = F.call_op(index_put, g, F.mul(g_values, 0.0), *indices, dims=dims, accumulate=0)
    return (g_x, g_values) + (None,) * len(indices)


def _index_put_onnx(b, inputs, attrs, in_metas, out_metas):
    """ScatterND (reduction="add" to accumulate, opset 16+) on x with the indexed dims moved
    first; values are moved to B + the rest to match, and the result is moved back."""
    x, values, indices, dims = inputs[0], inputs[1], inputs[2:], tuple(attrs["dims"])
    shape = tuple(in_metas[0].shape)
    b.require_static(0, dims, "index_put wraps negative indices by the dim's size")
    if attrs["accumulate"] and b.opset < 16:
        b.fail(f"accumulate=1 needs ScatterND's reduction (opset 16 or newer, got {b.opset})")
    ndim, first = len(shape), dims[0]
    n_batch = len(in_metas[1].shape) - (ndim - len(dims))
    perm = _front_perm(ndim, dims)
    if _consecutive(dims) and first > 0:
        values = b.one("Transpose", [values], perm=list(range(first, first + n_batch)) + list(
            range(first)) + list(range(first + n_batch, len(in_metas[1].shape))))
    moved = b.one("Transpose", [x], perm=perm)
    reduction = "add" if attrs["accumulate"] else None
    y = b.one("ScatterND", [moved, _stacked_indices(b, indices, in_metas[2:], shape, dims),
                            values], reduction=reduction)
    inverse = [perm.index(d) for d in range(ndim)]
    return [b.one("Transpose", [y], perm=inverse)]


index_put = register(OpDef(
    name="index_put", inputs=("x", "values", "*indices"), infer=_index_put_infer,
    kernel="index_put", grad=_index_put_grad, attrs={"dims": (), "accumulate": 0},
    traits=frozenset({Trait.INPLACE_OK}), onnx=_index_put_onnx,
    doc="a copy of x with x[indices] = values (or += with accumulate=1): setitem's op",
))


# ---- index_select -------------------------------------------------------------------------
def _index_select_infer(x, idx, dim):
    common.require_index("index_select", idx)
    if len(idx.shape) > 1:
        raise ShapeError(f"index_select: index must be 0-d or 1-d, got shape "
                         f"{fmt_shape(idx.shape)}")
    d = common.normalize_axis("index_select", dim, len(x.shape))
    shape = list(x.shape) or [1]
    shape[d] = int(np.prod(idx.shape))
    return TensorMeta(tuple(shape[:len(x.shape)]), x.dtype)


def _index_select_grad(g, x, idx, out, dim):
    d = dim % max(x.ndim, 1)
    flat = F.reshape(idx, (-1,))
    if x.ndim == 0:
        return F.reshape(F.call_op(index_backward, F.reshape(g, (1,)), flat, shape=(1,),
                                   dims=(0,)), ()), None
    return F.call_op(index_backward, g, flat, shape=tuple(x.shape), dims=(d,)), None


def _index_select_onnx(b, inputs, attrs, in_metas, out_metas):
    """Gather along dim with the index as 1-D (a 0-d index keeps the dim, size 1)."""
    x, idx = inputs
    ndim = len(in_metas[0].shape)
    if ndim == 0:
        x = b.reshape(x, [1])
    if len(in_metas[1].shape) == 0:
        idx = b.reshape(idx, [1])
    y = b.one("Gather", [x, idx], axis=attrs["dim"] % max(ndim, 1))
    return [b.reshape(y, []) if ndim == 0 else y]


index_select = register(OpDef(
    name="index_select", inputs=("x", "index"), infer=_index_select_infer,
    kernel="index_select", grad=_index_select_grad, attrs={"dim": 0}, onnx=_index_select_onnx,
    doc="entries of x at positions `index` (1-d) along `dim`; indices must be in [0, size)",
))


# ---- gather -------------------------------------------------------------------------------
def _gather_check(op: str, x_shape, idx, dim) -> int:
    common.require_index(op, idx)
    ndim = len(x_shape)
    d = common.normalize_axis(op, dim, ndim)
    bad = len(idx.shape) != ndim or any(
        i != d and idx.shape[i] > x_shape[i] for i in range(ndim))
    if bad:
        raise ShapeError(f"{op}: index {fmt_shape(idx.shape)} must have the {ndim} dims of "
                         f"input {fmt_shape(x_shape)} and be no larger outside dim {d}")
    return d


def _gather_infer(x, idx, dim):
    _gather_check("gather", x.shape, idx, dim)
    return TensorMeta(tuple(idx.shape), x.dtype)


gather = register(OpDef(
    name="gather", inputs=("x", "index"), infer=_gather_infer, kernel="gather",
    grad=lambda g, x, idx, out, dim: (
        F.call_op(gather_backward, g, idx, shape=tuple(x.shape), dim=dim), None),
    attrs={"dim": 0},
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.one(
        "GatherElements", inputs, axis=attrs["dim"] % max(len(in_metas[0].shape), 1))],
    doc="out[i][j] = x[index[i][j]][j] for dim=0 (torch.gather)",
))


def _gather_backward_infer(g, idx, shape, dim):
    common.require_float("gather_backward", g, "grad")
    _gather_check("gather_backward", tuple(shape), idx, dim)
    if tuple(g.shape) != tuple(idx.shape):
        raise ShapeError(f"gather_backward: grad {fmt_shape(g.shape)} and index "
                         f"{fmt_shape(idx.shape)} differ")
    return TensorMeta(tuple(shape), g.dtype)


gather_backward = register(OpDef(
    name="gather_backward", inputs=("grad", "index"), infer=_gather_backward_infer,
    kernel="gather_backward",
    grad=lambda gg, g, idx, out, shape, dim: (F.call_op(gather, gg, idx, dim=dim), None),
    attrs={"shape": (), "dim": 0}, onnx_unsupported=BACKWARD,
    doc="zeros of `shape` with grad scatter-added at the gathered positions",
))


# ---- embedding ----------------------------------------------------------------------------
def _embedding_infer(ids, weight, padding_idx):
    common.require_index("embedding", ids, "input")
    if len(weight.shape) != 2:
        raise ShapeError(f"embedding: weight must be 2-d (num_embeddings, embedding_dim), got "
                         f"{fmt_shape(weight.shape)}")
    return TensorMeta(tuple(ids.shape) + (weight.shape[1],), weight.dtype)


def _embedding_grad(g, ids, weight, out, padding_idx):
    return None, F.call_op(embedding_backward, g, ids, num_weights=weight.shape[0],
                           padding_idx=padding_idx)


embedding = register(OpDef(
    name="embedding", inputs=("input", "weight"), infer=_embedding_infer, kernel="embedding",
    grad=_embedding_grad, attrs={"padding_idx": -1},
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.one("Gather", [inputs[1], inputs[0]])],
    doc="rows of weight at the ids in input; padding_idx (-1: none) only stops its gradient",
))


def _embedding_backward_infer(g, ids, num_weights, padding_idx):
    common.require_float("embedding_backward", g, "grad")
    common.require_index("embedding_backward", ids, "input")
    if tuple(g.shape[:-1]) != tuple(ids.shape) or len(g.shape) != len(ids.shape) + 1:
        raise ShapeError(f"embedding_backward: grad {fmt_shape(g.shape)} does not fit ids "
                         f"{fmt_shape(ids.shape)}")
    return TensorMeta((int(num_weights), g.shape[-1]), g.dtype)


def _embedding_backward_grad(gg, g, ids, out, num_weights, padding_idx):
    rows = F.call_op(embedding, ids, gg, padding_idx=padding_idx)
    if padding_idx >= 0:
        rows = F.masked_fill(rows, F.unsqueeze(F.eq(ids, padding_idx), -1), 0.0)
    return rows, None


embedding_backward = register(OpDef(
    name="embedding_backward", inputs=("grad", "input"), infer=_embedding_backward_infer,
    kernel="embedding_backward", grad=_embedding_backward_grad,
    attrs={"num_weights": 0, "padding_idx": -1}, onnx_unsupported=BACKWARD,
    doc="(num_weights, dim) zeros with each grad row added at its id, except padding_idx",
))


# ---- masked_fill --------------------------------------------------------------------------
def _masked_fill_infer(x, mask, value):
    if mask.dtype != np.bool_:
        raise DTypeError(f"masked_fill: mask must be bool, got {mask.dtype} "
                         f"(shape {fmt_shape(mask.shape)})")
    shape = common.broadcast_shapes("masked_fill", x.shape, mask.shape)
    if shape != tuple(x.shape):
        raise ShapeError(f"masked_fill: mask {fmt_shape(mask.shape)} must broadcast to the "
                         f"input {fmt_shape(x.shape)}")
    return TensorMeta(tuple(x.shape), x.dtype)


masked_fill = register(OpDef(
    name="masked_fill", inputs=("x", "mask"), infer=_masked_fill_infer, kernel="masked_fill",
    grad=lambda g, x, mask, out, value: (F.call_op(masked_fill, g, mask, value=0.0), None),
    attrs={"value": 0.0}, traits=frozenset({Trait.INPLACE_OK}), saves_inputs=False,
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.one("Where", [
        inputs[1], b.scalar(attrs["value"], in_metas[0].dtype), inputs[0]])],
    doc="x with `value` where mask (broadcast to x) is true",
))
