"""Op table rows for unified/ops/shape.py: the views (reshape/view/flatten/squeeze/unsqueeze,
permute/transpose/t, expand, basic getitem, narrow/select/split/chunk), cat/stack, pad in every
mode, repeat, and setitem with basic keys (slice_scatter). Gradient checks reach slice_backward
and pad_backward. Inputs cover non-contiguous layouts, size-1 and empty dims, integer dtypes."""

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase


def _np_pad(a, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad in NumPy (pairs from the last dim; negative pads crop)."""
    ndim = a.ndim
    pairs = [(0, 0)] * ndim
    for k in range(len(pad) // 2):
        pairs[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    crop = tuple(slice(max(-lo, 0), a.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pairs))
    a = a[crop]
    pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
               "circular": "wrap"}[mode]
    if np_mode == "constant":
        return np.pad(a, pairs, mode="constant", constant_values=value)
    return np.pad(a, pairs, mode=np_mode)


def _repeat(a, sizes):
    return np.tile(a, sizes)


def _assign(key):
    """fn/ref pair for `y = x.clone(); y[key] = v` (v from the second input, or 5)."""
    def fn(x, *v):
        y = x.clone()
        y[key] = v[0] if v else 5
        return y

    def ref(x, *v):
        y = x.copy()
        y[key] = v[0] if v else 5
        return y
    return fn, ref


CASES = [
    # reshape / view and the functions built on it
    OpCase("reshape_merge", lambda x: x.reshape(6, 4), lambda x: x.reshape(6, 4),
           (Arg((2, 3, 4)),)),
    OpCase("reshape_infer", lambda x: x.reshape(-1, 2), lambda x: x.reshape(-1, 2), (Arg((3, 4)),)),
    OpCase("reshape_transposed_copies", lambda x: x.reshape(-1), lambda x: x.reshape(-1),
           (Arg((3, 4), layout="transposed"),)),
    OpCase("reshape_strided", lambda x: x.reshape(2, 3, 2), lambda x: x.reshape(2, 3, 2),
           (Arg((3, 4), layout="strided"),)),
    OpCase("reshape_scalar", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), (Arg(()),)),
    OpCase("reshape_empty", lambda x: x.reshape(3, 0), lambda x: x.reshape(3, 0), (Arg((0, 3)),)),
    OpCase("reshape_int", lambda x: x.reshape(4, 3), lambda x: x.reshape(4, 3),
           (Arg((3, 4), "int", "int64", high=9),), exact=True),
    OpCase("view_contiguous", lambda x: x.view(4, 3), lambda x: x.reshape(4, 3), (Arg((2, 6)),)),
    OpCase("view_as", lambda x, y: x.view_as(y), lambda x, y: x.reshape(y.shape),
           (Arg((2, 6)), Arg((3, 4), grad=False))),
    OpCase("flatten_all", lambda x: x.flatten(), lambda x: x.reshape(-1), (Arg((2, 3, 2)),)),
    OpCase("flatten_middle", lambda x: U.flatten(x, 1, 2), lambda x: x.reshape(2, 6, 2),
           (Arg((2, 3, 2, 2)),)),
    OpCase("unflatten", lambda x: U.unflatten(x, 1, (2, -1)), lambda x: x.reshape(3, 2, 2),
           (Arg((3, 4)),)),
    OpCase("unsqueeze_neg", lambda x: x.unsqueeze(-1), lambda x: x[..., None], (Arg((2, 3)),)),
    OpCase("unsqueeze_front", lambda x: x.unsqueeze(0), lambda x: x[None],
           (Arg((2, 3), layout="transposed"),)),
    OpCase("squeeze_all", lambda x: x.squeeze(), np.squeeze, (Arg((1, 3, 1, 2)),)),
    OpCase("squeeze_dim", lambda x: x.squeeze(2), lambda x: x.squeeze(2), (Arg((3, 2, 1)),)),
    OpCase("squeeze_non_one_keeps", lambda x: x.squeeze(0), lambda x: x, (Arg((3, 2)),)),
    # permute family
    OpCase("permute_3d", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1),
           (Arg((2, 3, 4)),)),
    OpCase("permute_negative", lambda x: U.permute(x, (-1, 0, 1)), lambda x: x.transpose(2, 0, 1),
           (Arg((2, 3, 2), layout="strided"),)),
    OpCase("transpose", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), (Arg((2, 3, 4)),)),
    OpCase("t_matrix", lambda x: x.t(), lambda x: x.T, (Arg((3, 4), layout="transposed"),)),
    OpCase("t_vector", lambda x: x.t(), lambda x: x, (Arg((3,)),)),
    OpCase("T_property", lambda x: x.T, lambda x: x.T, (Arg((2, 3, 4)),)),
    OpCase("mT_property", lambda x: x.mT, lambda x: x.swapaxes(-1, -2), (Arg((2, 3, 4)),)),
    OpCase("movedim", lambda x: U.movedim(x, 0, -1), lambda x: np.moveaxis(x, 0, -1),
           (Arg((2, 3, 4)),)),
    OpCase("permute_int", lambda x: x.permute(1, 0), lambda x: x.T,
           (Arg((3, 4), "int", "int32", high=9),), exact=True),
    # expand
    OpCase("expand_new_dims", lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
           (Arg((3, 1)),)),
    OpCase("expand_keep", lambda x: x.expand(-1, 5), lambda x: np.broadcast_to(x, (3, 5)),
           (Arg((3, 1)),)),
    OpCase("expand_scalar", lambda x: x.expand(2, 3), lambda x: np.broadcast_to(x, (2, 3)),
           (Arg(()),)),
    OpCase("expand_as", lambda x, y: x.expand_as(y), lambda x, y: np.broadcast_to(x, y.shape),
           (Arg((1, 4)), Arg((3, 4), grad=False))),
    OpCase("expand_then_reshape", lambda x: x.expand(2, 3).reshape(6), lambda x: np.broadcast_to(
        x, (2, 3)).reshape(6), (Arg((3,)),)),
    OpCase("broadcast_to", lambda x: U.broadcast_to(x, (2, 2, 3)),
           lambda x: np.broadcast_to(x, (2, 2, 3)), (Arg((2, 1), layout="transposed"),)),
    # basic indexing (slice view; gradients through slice_backward)
    OpCase("getitem_int", lambda x: x[1], lambda x: x[1], (Arg((3, 4)),)),
    OpCase("getitem_negative_int", lambda x: x[:, -1], lambda x: x[:, -1], (Arg((3, 4)),)),
    OpCase("getitem_slices", lambda x: x[1:, ::2], lambda x: x[1:, ::2], (Arg((4, 5)),)),
    OpCase("getitem_step3", lambda x: x[..., 1::3], lambda x: x[..., 1::3], (Arg((2, 2, 7)),)),
    OpCase("getitem_none_ellipsis", lambda x: x[None, ..., None, 0],
           lambda x: x[None, ..., None, 0], (Arg((2, 3)),)),
    OpCase("getitem_empty", lambda x: x[2:1], lambda x: x[2:1], (Arg((4, 3)),)),
    OpCase("getitem_clamped", lambda x: x[-10:10], lambda x: x[-10:10], (Arg((3, 2)),)),
    OpCase("getitem_transposed", lambda x: x[1:3, 0], lambda x: x[1:3, 0],
           (Arg((4, 3), layout="transposed"),)),
    OpCase("getitem_strided", lambda x: x[:, 1:], lambda x: x[:, 1:],
           (Arg((3, 4), layout="strided"),)),
    OpCase("getitem_scalar_out", lambda x: x[1, 2], lambda x: x[1, 2], (Arg((3, 4)),)),
    OpCase("getitem_int_dtype", lambda x: x[::2, 1], lambda x: x[::2, 1],
           (Arg((5, 3), "int", "int64", high=9),), exact=True),
    OpCase("narrow", lambda x: U.narrow(x, 1, 1, 2), lambda x: x[:, 1:3], (Arg((3, 4)),)),
    OpCase("select", lambda x: U.select(x, 0, -1), lambda x: x[-1], (Arg((3, 4)),)),
    OpCase("split_size", lambda x: x.split(2, dim=1),
           lambda x: tuple(np.split(x, [2, 4], axis=1)), (Arg((2, 5)),)),
    OpCase("split_sections", lambda x: U.split(x, [1, 3], 0),
           lambda x: tuple(np.split(x, [1], axis=0)), (Arg((4, 2)),)),
    OpCase("chunk", lambda x: x.chunk(3, -1), lambda x: tuple(np.split(x, [2, 4], axis=-1)),
           (Arg((2, 6), layout="transposed"),)),
    OpCase("chunk_uneven", lambda x: x.chunk(3), lambda x: (x[:2], x[2:4]), (Arg((4, 2)),)),
    # cat / stack
    OpCase("cat_dim0", lambda a, b: U.cat([a, b]), lambda a, b: np.concatenate([a, b]),
           (Arg((2, 3)), Arg((4, 3)))),
    OpCase("cat_dim1_three", lambda a, b, c: U.cat((a, b, c), dim=-1),
           lambda a, b, c: np.concatenate([a, b, c], -1), (Arg((2, 1)), Arg((2, 3)), Arg((2, 2)))),
    OpCase("cat_noncontiguous", lambda a, b: U.cat([a, b], 1),
           lambda a, b: np.concatenate([a, b], 1),
           (Arg((3, 2), layout="transposed"), Arg((3, 4), layout="strided"))),
    OpCase("cat_empty_piece", lambda a, b: U.concat([a, b], 0), lambda a, b: np.concatenate([a, b]),
           (Arg((0, 3)), Arg((2, 3)))),
    OpCase("cat_int", lambda a, b: U.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
           (Arg((2, 2), "int", "int64", high=9), Arg((2, 3), "int", "int64", high=9)), exact=True),
    OpCase("cat_promotes", lambda a, b: U.cat([a, b]), lambda a, b: np.concatenate([a, b]),
           (Arg((2,), "int", "int64", high=9), Arg((3,)))),
    OpCase("cat_many", lambda x: U.cat([x] * 20, 0), lambda x: np.concatenate([x] * 20),
           (Arg((1, 2)),)),
    OpCase("stack_dim0", lambda a, b: U.stack([a, b]), lambda a, b: np.stack([a, b]),
           (Arg((2, 3)), Arg((2, 3)))),
    OpCase("stack_last", lambda a, b: U.stack([a, b], -1), lambda a, b: np.stack([a, b], -1),
           (Arg((3,)), Arg((3,), layout="strided"))),
    # pad
    OpCase("pad_constant", lambda x: F.pad(x, (1, 2)), lambda x: _np_pad(x, (1, 2)),
           (Arg((2, 3)),)),
    OpCase("pad_constant_value_2d", lambda x: F.pad(x, (1, 0, 0, 2), value=1.5),
           lambda x: _np_pad(x, (1, 0, 0, 2), value=1.5), (Arg((2, 3, 2)),)),
    OpCase("pad_negative_crops", lambda x: F.pad(x, (-1, 1, 1, -1)),
           lambda x: _np_pad(x, (-1, 1, 1, -1)), (Arg((3, 4)),)),
    OpCase("pad_reflect", lambda x: F.pad(x, (2, 1), mode="reflect"),
           lambda x: _np_pad(x, (2, 1), "reflect"), (Arg((2, 4)),)),
    OpCase("pad_reflect_2d", lambda x: F.pad(x, (1, 1, 2, 1), mode="reflect"),
           lambda x: _np_pad(x, (1, 1, 2, 1), "reflect"), (Arg((1, 3, 3)),)),
    OpCase("pad_replicate", lambda x: F.pad(x, (2, 3), mode="replicate"),
           lambda x: _np_pad(x, (2, 3), "replicate"), (Arg((2, 3), layout="transposed"),)),
    OpCase("pad_circular", lambda x: F.pad(x, (1, 2, 1, 0), mode="circular"),
           lambda x: _np_pad(x, (1, 2, 1, 0), "circular"), (Arg((3, 3)),)),
    OpCase("pad_int", lambda x: F.pad(x, (1, 1), value=7), lambda x: _np_pad(x, (1, 1), value=7),
           (Arg((2, 2), "int", "int32", high=9),), exact=True),
    OpCase("pad_empty", lambda x: F.pad(x, (1, 1)), lambda x: _np_pad(x, (1, 1)), (Arg((0, 2)),)),
    # repeat (expand of an interleaved reshape, then a copying reshape)
    OpCase("repeat_2d", lambda x: x.repeat(2, 3), lambda x: _repeat(x, (2, 3)), (Arg((2, 2)),)),
    OpCase("repeat_new_dims", lambda x: x.repeat(2, 1, 2), lambda x: _repeat(x, (2, 1, 2)),
           (Arg((3,)),)),
    OpCase("repeat_int", lambda x: x.repeat(3), lambda x: _repeat(x, 3),
           (Arg((2,), "int", "int64", high=9),), exact=True),
]

# setitem with basic keys: slice_scatter in place on a clone (gradients reach x and the value)
for _name, _key, _vshape in [
    ("row", 1, (4,)), ("column_broadcast", (slice(None), 2), ()),
    ("strided_block", (slice(1, None), slice(None, None, 2)), (2, 2)),
    ("none_key", (None, 0), (1, 4)), ("ellipsis", (Ellipsis, 1), (1,)),
]:
    _fn, _ref = _assign(_key)
    CASES.append(OpCase(f"setitem_basic_{_name}", _fn, _ref, (Arg((3, 4)), Arg(_vshape))))
_fn, _ref = _assign((slice(None), 0))
CASES.append(OpCase("setitem_basic_scalar_int", _fn, _ref,
                    (Arg((3, 4), "int", "int64", high=9),), exact=True))
