"""Shape ops: the views (reshape, permute, expand, slice: no kernel when the layout allows a
NumPy view) and the copies with kernels (cat, pad, slice_scatter and the backward ops).
Kernels: core_cpp/kernels/shape.cpp. Index ops (gather, advanced indexing) are in index.py;
the user-facing functions (flatten, squeeze, split, stack, ...) in unified/functional/shape.py."""

from __future__ import annotations

import builtins
import math

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops import infer as common
from unified.ops.registry import F, OpDef, TensorMeta, Trait, register

VIEW = frozenset({Trait.VIEW})


# ---- reshape ------------------------------------------------------------------------------
def resolve_shape(op: str, in_shape: tuple, shape: tuple) -> tuple[int, ...]:
    """`shape` with its one -1 inferred; ShapeError names both shapes when sizes disagree."""
    numel = math.prod(in_shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ShapeError(f"{op}: only one dimension can be -1, got shape {tuple(shape)}")
    if any(s < -1 for s in shape):
        raise ShapeError(f"{op}: invalid size {min(shape)} in shape {tuple(shape)}")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: shape {tuple(shape)} is invalid for input of shape "
                             f"{fmt_shape(in_shape)} ({numel} elements)")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if math.prod(shape) != numel:
        raise ShapeError(f"{op}: shape {tuple(shape)} is invalid for input of shape "
                         f"{fmt_shape(in_shape)} ({numel} elements)")
    return tuple(int(s) for s in shape)


def _reshape_infer(x, shape):
    return TensorMeta(resolve_shape("reshape", x.shape, shape), x.dtype)


def reshape_view(array: np.ndarray, shape) -> np.ndarray | None:
    """A NumPy view of `array` with `shape`, or None when its strides do not allow one."""
    try:
        return np.reshape(array, resolve_shape("reshape", array.shape, shape), copy=False)
    except ValueError:
        return None


def reshape_groups(in_shape: tuple, out_shape: tuple) -> list[tuple[list, list]] | None:
    """Runs of input and output dims with equal products, in order ((in dims, out dims) each;
    trailing size-1 dims form groups of their own); None when the sizes do not line up."""
    groups, i, j = [], 0, 0
    while i < len(in_shape) or j < len(out_shape):
        ins, outs, p_in, p_out = [], [], 1, 1
        if i < len(in_shape):
            ins, p_in, i = [i], in_shape[i], i + 1
        if j < len(out_shape):
            outs, p_out, j = [j], out_shape[j], j + 1
        while p_in != p_out:
            if p_in < p_out and i < len(in_shape):
                ins, p_in, i = ins + [i], p_in * in_shape[i], i + 1
            elif p_out < p_in and j < len(out_shape):
                outs, p_out, j = outs + [j], p_out * out_shape[j], j + 1
            else:
                return None
        groups.append((ins, outs))
    return groups


def _reshape_onnx(b, inputs, attrs, in_metas, out_metas):
    """Reshape to the output shape. With dynamic input dims the dims are matched group by group
    (reshape_groups): a dynamic dim alone in its group at the same place is copied (0); a group
    merging a dynamic dim with others becomes the one -1. Splitting a dynamic dim fails."""
    in_shape, out_shape = tuple(in_metas[0].shape), tuple(out_metas[0].shape)
    if not b.is_dynamic(0):
        if not math.prod(out_shape):  # no elements: ONNX's 0 would copy a dim, so a constant
            return [b.const(np.zeros(out_shape, out_metas[0].dtype))]
        return [b.reshape(inputs[0], out_shape)]
    dims = b.in_dims[0]
    groups = reshape_groups(in_shape, out_shape) if math.prod(in_shape) else None
    if groups is None:
        b.fail(f"its input {fmt_shape(in_shape)} (dynamic dims {dims}) is empty or does not line "
               f"up with the shape {fmt_shape(out_shape)}")
    target, out_dims, merged = list(out_shape), list(out_shape), None
    for ins, outs in groups:
        if not any(isinstance(dims[i], str) for i in ins):
            continue
        if ins == outs and len(ins) == 1:
            target[ins[0]], out_dims[ins[0]] = 0, dims[ins[0]]
            continue
        if len(outs) != 1 or merged is not None:
            b.fail(f"it reshapes {fmt_shape(in_shape)} (dynamic dims {dims}) to "
                   f"{fmt_shape(out_shape)}, which splits a dynamic dim or merges two groups of "
                   "them; only keeping or merging one is exported dynamically")
        merged = outs[0]
        target[merged] = -1
        out_dims[merged] = b.dim_for(out_shape[merged], math.prod(
            b.probe_shape(tuple(dims[i] for i in ins))))
    b.out_dims = [tuple(out_dims)]
    return [b.reshape(inputs[0], target)]


reshape = register(OpDef(
    name="reshape", inputs=("x",), infer=_reshape_infer, kernel=None, view=reshape_view,
    grad=lambda g, x, out, shape: F.reshape(g, x.shape), attrs={"shape": ()}, traits=VIEW,
    saves_inputs=False, onnx=_reshape_onnx,
    doc="same elements in a new shape (one -1 is inferred); a view when the strides allow",
))


# ---- permute ------------------------------------------------------------------------------
def _permute_infer(x, dims):
    ndim = len(x.shape)
    norm = tuple(d % ndim if -ndim <= d < ndim else d for d in dims) if ndim else tuple(dims)
    if len(dims) != ndim or sorted(norm) != list(range(ndim)):
        raise ShapeError(f"permute: dims {tuple(dims)} are not a permutation of the "
                         f"{ndim} dimensions of input {fmt_shape(x.shape)}")
    return TensorMeta(tuple(x.shape[d] for d in norm), x.dtype)


def _permute_grad(g, x, out, dims):
    ndim = len(dims)
    inverse = [0] * ndim
    for i, d in enumerate(dims):
        inverse[d % ndim] = i
    return F.permute(g, tuple(inverse))


permute = register(OpDef(
    name="permute", inputs=("x",), infer=_permute_infer, kernel=None,
    view=lambda a, dims: a.transpose(tuple(d % a.ndim for d in dims)),
    grad=_permute_grad, attrs={"dims": ()}, traits=VIEW, saves_inputs=False,
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.one(
        "Transpose", inputs, perm=[d % max(len(attrs["dims"]), 1) for d in attrs["dims"]])],
    doc="reorder dimensions (transpose, t, .T are permutes); always a view",
))


# ---- expand -------------------------------------------------------------------------------
def expand_shape(op: str, in_shape: tuple, shape: tuple) -> tuple[int, ...]:
    """PyTorch's expand: new leading dims, -1 keeps a size, size-1 dims stretch."""
    lead = len(shape) - len(in_shape)
    if lead < 0:
        raise ShapeError(f"{op}: the target shape {tuple(shape)} has fewer dimensions than the "
                         f"input {fmt_shape(in_shape)}")
    out = []
    for i, s in enumerate(shape):
        if i < lead:
            if s < 0:
                raise ShapeError(f"{op}: size -1 is not allowed in a new leading dimension "
                                 f"(target {tuple(shape)}, input {fmt_shape(in_shape)})")
            out.append(int(s))
            continue
        have = in_shape[i - lead]
        if s == -1 or s == have:
            out.append(int(have))
        elif have == 1 and s >= 0:
            out.append(int(s))
        else:
            raise ShapeError(f"{op}: cannot expand input {fmt_shape(in_shape)} to "
                             f"{tuple(shape)} (dimension {i}: {have} vs {s}; only size-1 "
                             "dimensions can be expanded)")
    return tuple(out)


def _expand_onnx(b, inputs, attrs, in_metas, out_metas):
    """Expand with 1 (ONNX: keep the input's size) wherever the size stays, so dynamic dims
    that are not stretched stay dynamic."""
    in_shape, out_shape = tuple(in_metas[0].shape), tuple(out_metas[0].shape)
    lead = len(out_shape) - len(in_shape)
    target, out_dims = [], []
    for k, size in enumerate(out_shape):
        src = k - lead
        if src >= 0 and in_shape[src] == size:
            target.append(1)
            out_dims.append(b.in_dims[0][src])
            continue
        if src >= 0 and b.is_dynamic(0, src):
            b.fail(f"it stretches dynamic dim {src} ({b.in_dims[0][src]}) of input "
                   f"{fmt_shape(in_shape)} to a fixed size {size}")
        target.append(size)
        out_dims.append(size)
    b.out_dims = [tuple(out_dims)]
    return [b.one("Expand", [inputs[0], b.i64(target)])]


expand = register(OpDef(
    name="expand", inputs=("x",),
    infer=lambda x, shape: TensorMeta(expand_shape("expand", x.shape, shape), x.dtype),
    kernel=None,
    view=lambda a, shape: np.broadcast_to(a, expand_shape("expand", a.shape, shape)),
    grad=lambda g, x, out, shape: F.sum_to(g, x.shape), attrs={"shape": ()}, traits=VIEW,
    saves_inputs=False, onnx=_expand_onnx,
    doc="broadcast size-1 dims to `shape` without copying (a stride-0, read-only view)",
))


# ---- slice (basic indexing) ----------------------------------------------------------------
def _slice_shape(op: str, in_shape, starts, stops, steps, squeeze) -> tuple[int, ...]:
    ndim = len(in_shape)
    if not len(starts) == len(stops) == len(steps) == ndim:
        raise ShapeError(f"{op}: starts {tuple(starts)}, stops {tuple(stops)} and steps "
                         f"{tuple(steps)} must each have one entry per dimension of "
                         f"{fmt_shape(in_shape)}")
    out = []
    for d, (n, a, b, s) in enumerate(zip(in_shape, starts, stops, steps)):
        if s <= 0 or not 0 <= a <= n or not a <= b <= n:
            raise ShapeError(f"{op}: slice {a}:{b}:{s} does not fit dimension {d} of size {n} "
                             f"(input {fmt_shape(in_shape)}); steps must be positive")
        length = (b - a + s - 1) // s
        if d in squeeze:
            if length != 1:
                raise ShapeError(f"{op}: dimension {d} is squeezed but its slice {a}:{b}:{s} "
                                 f"has {length} elements")
            continue
        out.append(length)
    return tuple(out)


def _slice_infer(x, starts, stops, steps, squeeze):
    return TensorMeta(_slice_shape("slice", x.shape, starts, stops, steps, squeeze), x.dtype)


def slice_key(starts, stops, steps, squeeze) -> tuple:
    """The NumPy key of a normalized slice (ints for squeezed dims)."""
    return tuple(a if d in squeeze else builtins.slice(a, b, s)
                 for d, (a, b, s) in enumerate(zip(starts, stops, steps)))


def _slice_view(a, starts, stops, steps, squeeze):
    return a[slice_key(starts, stops, steps, squeeze) + (Ellipsis,)]  # `...`: 0-d stays an array


def _slice_grad(g, x, out, starts, stops, steps, squeeze):
    return F.call_op(slice_backward, g, shape=tuple(x.shape), starts=starts, stops=stops,
                     steps=steps, squeeze=squeeze)


def _slice_onnx(b, inputs, attrs, in_metas, out_metas):
    """Slice (+ Squeeze for integer indices). A dynamic dim sliced to its end keeps an open end
    (so it stays dynamic); full ranges are left out of the Slice."""
    shape, dims, squeeze = tuple(in_metas[0].shape), b.in_dims[0], tuple(attrs["squeeze"])
    starts, ends, axes, steps, out_dims = [], [], [], [], []
    for d, (n, a, e, s) in enumerate(zip(shape, attrs["starts"], attrs["stops"], attrs["steps"])):
        full = a == 0 and e == n and s == 1 and d not in squeeze
        open_end = isinstance(dims[d], str) and e == n and d not in squeeze
        if not full:
            starts, axes, steps = starts + [a], axes + [d], steps + [s]
            ends.append(np.iinfo(np.int64).max if open_end else e)
        if d in squeeze:
            continue
        length = (e - a + s - 1) // s
        if open_end:
            probe = b.probe_shape((dims[d],))[0]
            out_dims.append(dims[d] if full else b.dim_for(length, (probe - a + s - 1) // s))
        else:
            out_dims.append(length)
    b.out_dims = [tuple(out_dims)]
    y = inputs[0]
    if axes:
        y = b.one("Slice", [y, b.i64(starts), b.i64(ends), b.i64(axes), b.i64(steps)])
    y = b.squeeze(y, squeeze)
    return [y if y != inputs[0] else b.one("Identity", [y])]


def _slice_scatter_onnx(b, inputs, attrs, in_metas, out_metas):
    """ScatterND of src at the slice's positions (a constant index grid: static shapes)."""
    b.require_static(0, None, "slice_scatter writes at positions fixed at export")
    squeeze = tuple(attrs["squeeze"])
    if not in_metas[0].shape:
        return [b.one("Identity", [inputs[1]])]
    ranges = [np.array([a]) if d in squeeze else np.arange(a, e, s)
              for d, (a, e, s) in enumerate(zip(attrs["starts"], attrs["stops"], attrs["steps"]))]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).astype(np.int64)
    src = b.unsqueeze(inputs[1], squeeze)
    return [b.one("ScatterND", [inputs[0], b.const(grid), src])]


SLICE_ATTRS = {"starts": (), "stops": (), "steps": (), "squeeze": ()}

slice_ = register(OpDef(
    name="slice", inputs=("x",), infer=_slice_infer, kernel=None, view=_slice_view,
    grad=_slice_grad, attrs=dict(SLICE_ATTRS), traits=VIEW, saves_inputs=False,
    onnx=_slice_onnx,
    doc="x[a0:b0:s0, a1:b1:s1, ...] with normalized bounds (0 <= a <= b <= n, s > 0); dims in "
        "`squeeze` are integer indices (length 1, removed). A view: basic indexing, narrow, split",
))


def _slice_backward_infer(g, shape, starts, stops, steps, squeeze):
    common.require_float("slice_backward", g, "grad")
    want = _slice_shape("slice_backward", shape, starts, stops, steps, squeeze)
    if tuple(g.shape) != want:
        raise ShapeError(f"slice_backward: grad {fmt_shape(g.shape)} does not match the slice "
                         f"shape {fmt_shape(want)} of input {fmt_shape(shape)}")
    return TensorMeta(tuple(shape), g.dtype)


slice_backward = register(OpDef(
    name="slice_backward", inputs=("grad",), infer=_slice_backward_infer,
    kernel="slice_backward",
    grad=lambda gg, g, out, shape, starts, stops, steps, squeeze: F.call_op(
        slice_, gg, starts=starts, stops=stops, steps=steps, squeeze=squeeze),
    attrs={"shape": (), **SLICE_ATTRS}, saves_inputs=False,
    onnx_unsupported="backward ops are not exported",
    doc="zeros of `shape` with `grad` written into the slice (the gradient of slice)",
))


def _slice_scatter_infer(x, src, starts, stops, steps, squeeze):
    want = _slice_shape("slice_scatter", x.shape, starts, stops, steps, squeeze)
    if tuple(src.shape) != want:
        raise ShapeError(f"slice_scatter: source {fmt_shape(src.shape)} does not match the "
                         f"slice shape {fmt_shape(want)} of input {fmt_shape(x.shape)}")
    common.same_dtype("slice_scatter", x, src)
    return TensorMeta(tuple(x.shape), x.dtype)


def _slice_scatter_grad(g, x, src, out, starts, stops, steps, squeeze):
    attrs = {"starts": starts, "stops": stops, "steps": steps, "squeeze": squeeze}
    g_src = F.call_op(slice_, g, **attrs)
    g_x = F.call_op(slice_scatter, g, F.mul(g_src, 0.0), **attrs)
    return g_x, g_src


slice_scatter = register(OpDef(
    name="slice_scatter", inputs=("x", "src"), infer=_slice_scatter_infer,
    kernel="slice_scatter", grad=_slice_scatter_grad, attrs=dict(SLICE_ATTRS),
    traits=frozenset({Trait.INPLACE_OK}), saves_inputs=False, onnx=_slice_scatter_onnx,
    doc="a copy of x with the slice replaced by src (x[key] = value with basic keys)",
))


# ---- cat ----------------------------------------------------------------------------------
def _cat_infer(*xs, dim):
    if not xs:
        raise ShapeError("cat: expected a non-empty sequence of tensors")
    first = xs[0]
    ndim = len(first.shape)
    if ndim == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated")
    d = common.normalize_axis("cat", dim, ndim)
    total = 0
    for i, x in enumerate(xs):
        if x.dtype != first.dtype:
            raise DTypeError(f"cat: tensor {i} has dtype {x.dtype} but tensor 0 has {first.dtype}")
        same = len(x.shape) == ndim and all(
            a == b for k, (a, b) in enumerate(zip(x.shape, first.shape)) if k != d)
        if not same:
            raise ShapeError(f"cat: tensor {i} has shape {fmt_shape(x.shape)} but tensor 0 has "
                             f"{fmt_shape(first.shape)}; all dimensions except {d} must match")
        total += x.shape[d]
    shape = list(first.shape)
    shape[d] = total
    return TensorMeta(tuple(shape), first.dtype)


def _cat_grad(g, *xs, out, dim):
    d = dim % g.ndim
    grads, offset = [], 0
    for x in xs:
        n = x.shape[d]
        grads.append(F.narrow(g, d, offset, n) if x.dtype == np.float32 else None)
        offset += n
    return tuple(grads)


cat = register(OpDef(
    name="cat", inputs=("*tensors",), infer=_cat_infer, kernel="cat", grad=_cat_grad,
    attrs={"dim": 0}, saves_inputs=False,
    onnx=lambda b, inputs, attrs, in_metas, out_metas: [b.one(
        "Concat", inputs, axis=attrs["dim"] % len(in_metas[0].shape))],
    doc="concatenate any number of tensors (one dtype) along `dim`",
))


# ---- pad ----------------------------------------------------------------------------------
PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad_shape(op: str, in_shape: tuple, pad: tuple, mode: str) -> tuple[int, ...]:
    """Output shape of F.pad; pad pairs start from the last dimension."""
    ndim = len(in_shape)
    if len(pad) % 2 or len(pad) // 2 > ndim:
        raise ShapeError(f"{op}: pad {tuple(pad)} must have an even length of at most "
                         f"2 * {ndim} for input {fmt_shape(in_shape)}")
    if mode not in PAD_MODES:
        raise ValueError(f"{op}: mode must be one of {PAD_MODES}, got '{mode}'")
    shape = list(in_shape)
    for k in range(len(pad) // 2):
        d = ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        n = in_shape[d]
        if mode != "constant" and (lo < 0 or hi < 0):
            raise ShapeError(f"{op}: negative padding {tuple(pad)} is only allowed in "
                             "constant mode")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ShapeError(f"{op}: reflect padding ({lo}, {hi}) must be smaller than the "
                             f"size {n} of dimension {d} (input {fmt_shape(in_shape)})")
        if mode in ("replicate", "circular") and n == 0 and lo + hi > 0:
            raise ShapeError(f"{op}: {mode} padding of empty dimension {d} (input "
                             f"{fmt_shape(in_shape)})")
        if mode == "circular" and (lo > n or hi > n):
            raise ShapeError(f"{op}: circular padding ({lo}, {hi}) is larger than dimension "
                             f"{d} of size {n}")
        shape[d] = n + lo + hi
        if shape[d] < 0:
            raise ShapeError(f"{op}: padding ({lo}, {hi}) leaves dimension {d} of size {n} "
                             "with a negative size")
    return tuple(shape)


def _pad_infer(x, pad, mode, value):
    if mode != "constant":
        common.require_float("pad", x)
    return TensorMeta(pad_shape("pad", x.shape, pad, mode), x.dtype)


def _pad_grad(g, x, out, pad, mode, value):
    return F.call_op(pad_backward, g, shape=tuple(x.shape), pad=pad, mode=mode)


def _pad_onnx(b, inputs, attrs, in_metas, out_metas):
    """Pad (constant, reflect, edge); circular is a Concat of end slices (ONNX's wrap mode
    needs opset 19)."""
    ndim, pad, mode = len(in_metas[0].shape), attrs["pad"], attrs["mode"]
    begins, ends = [0] * ndim, [0] * ndim
    for k in range(len(pad) // 2):
        begins[ndim - 1 - k], ends[ndim - 1 - k] = pad[2 * k], pad[2 * k + 1]
    x = inputs[0]
    if mode == "circular":
        big = np.iinfo(np.int64).max
        for d in range(ndim):
            parts = [x]
            if begins[d]:
                parts.insert(0, b.one("Slice", [x, b.i64([-begins[d]]), b.i64([big]),
                                                b.i64([d])]))
            if ends[d]:
                parts.append(b.one("Slice", [x, b.i64([0]), b.i64([ends[d]]), b.i64([d])]))
            x = b.one("Concat", parts, axis=d) if len(parts) > 1 else x
        return [x if x != inputs[0] else b.one("Identity", [x])]
    operands = [x, b.i64(begins + ends)]
    if mode == "constant":
        operands.append(b.scalar(attrs["value"], in_metas[0].dtype))
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    return [b.one("Pad", operands, mode=onnx_mode)]


pad = register(OpDef(
    name="pad", inputs=("x",), infer=_pad_infer, kernel="pad", grad=_pad_grad,
    attrs={"pad": (), "mode": "constant", "value": 0.0}, saves_inputs=False, onnx=_pad_onnx,
    doc="F.pad: pad pairs (left, right) from the last dim backwards; constant (negative pads "
        "crop), reflect, replicate or circular",
))


def _pad_backward_infer(g, shape, pad, mode):
    common.require_float("pad_backward", g, "grad")
    want = pad_shape("pad_backward", tuple(shape), pad, mode)
    if tuple(g.shape) != want:
        raise ShapeError(f"pad_backward: grad {fmt_shape(g.shape)} does not match the padded "
                         f"shape {fmt_shape(want)} of input {fmt_shape(shape)}")
    return TensorMeta(tuple(shape), g.dtype)


pad_backward = register(OpDef(
    name="pad_backward", inputs=("grad",), infer=_pad_backward_infer, kernel="pad_backward",
    grad=lambda gg, g, out, **attrs: F.call_op(pad, gg, pad=attrs["pad"], mode=attrs["mode"],
                                               value=0.0),
    attrs={"shape": (), "pad": (), "mode": "constant"}, saves_inputs=False,
    onnx_unsupported="backward ops are not exported",
    doc="the gradient of pad: sums each output gradient into the input element it copied",
))
