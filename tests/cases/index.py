"""Op table rows for unified/ops/index.py: advanced getitem (integer tensors and lists, broadcast
index tensors, adjacent and separated index dims, bool masks, negative and int32 indices),
setitem with index tensors and masks (index_put, masked_fill in place), index_select, gather,
embedding and masked_fill. Gradient checks reach index_backward, gather_backward and
embedding_backward (repeated indices accumulate)."""

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase


def _ids(shape, high, dtype="int64"):
    return Arg(shape, "int", dtype, high=high)


def _fixed(values, dtype="int64"):
    return Arg(np.asarray(values).shape, dtype=dtype, value=values)


def _gather_ref(dim):
    def ref(x, idx):
        cut = tuple(slice(None) if d == dim % x.ndim else slice(0, idx.shape[d])
                    for d in range(x.ndim))
        return np.take_along_axis(x[cut], idx, axis=dim)
    return ref


def _put(fn_key, value_from_input=True):
    """fn/ref for `y = x.clone(); y[key(...)] = v`; extra inputs after x are the key parts,
    the last one is the value when value_from_input."""
    def fn(x, *rest):
        y = x.clone()
        key, v = (rest[:-1], rest[-1]) if value_from_input else (rest, 3)
        y[fn_key(*key)] = v
        return y

    def ref(x, *rest):
        y = x.copy()
        key, v = (rest[:-1], rest[-1]) if value_from_input else (rest, 3)
        y[fn_key(*key)] = v
        return y
    return fn, ref


CASES = [
    # getitem with index tensors: the `index` op (gradient: index_backward)
    OpCase("getitem_index_repeats", lambda x, i: x[i], lambda x, i: x[i],
           (Arg((3, 4)), _ids((5,), 3))),
    OpCase("getitem_index_list", lambda x: x[:, [0, 2]], lambda x: x[:, [0, 2]], (Arg((3, 4)),)),
    OpCase("getitem_index_broadcast", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
           (Arg((3, 4)), _ids((2, 1), 3), _ids((3,), 4))),
    OpCase("getitem_index_separated", lambda x, i, j: x[i, :, j], lambda x, i, j: x[i, :, j],
           (Arg((3, 2, 4)), _ids((2,), 3), _ids((2,), 4))),
    OpCase("getitem_index_after_slice", lambda x, i: x[1:, i], lambda x, i: x[1:, i],
           (Arg((3, 4)), _ids((3,), 4))),
    OpCase("getitem_index_2d", lambda x, i: x[i], lambda x, i: x[i],
           (Arg((4, 3)), _ids((2, 2), 4))),
    OpCase("getitem_index_negative", lambda x, i: x[i], lambda x, i: x[i],
           (Arg((3, 2)), _fixed([-1, 0, -3]))),
    OpCase("getitem_index_int32", lambda x, i: x[:, i], lambda x, i: x[:, i],
           (Arg((2, 4)), _ids((3,), 4, "int32"))),
    OpCase("getitem_index_transposed", lambda x, i: x[i, 1:], lambda x, i: x[i, 1:],
           (Arg((4, 3), layout="transposed"), _ids((3,), 4))),
    OpCase("getitem_index_none", lambda x, i: x[None, i], lambda x, i: x[None, i],
           (Arg((3, 2)), _ids((2,), 3))),
    OpCase("getitem_index_int_tensor", lambda x, i: x[i], lambda x, i: x[i],
           (_ids((3, 4), 9), _ids((2,), 3)), exact=True),
    OpCase("getitem_index_empty", lambda x, i: x[i], lambda x, i: x[i],
           (Arg((3, 2)), _ids((0,), 3))),
    OpCase("getitem_mask", lambda x, m: x[m], lambda x, m: x[m],
           (Arg((3, 4)), Arg((3, 4), "bool", "bool"))),
    OpCase("getitem_mask_rows", lambda x, m: x[m], lambda x, m: x[m],
           (Arg((4, 2)), _fixed([True, False, True, True], "bool"))),
    OpCase("getitem_mask_trailing", lambda x, m: x[:, m], lambda x, m: x[:, m],
           (Arg((2, 3)), _fixed([False, True, True], "bool"))),
    # index_select (gradient: index_backward on one dim)
    OpCase("index_select_dim0", lambda x, i: x.index_select(0, i),
           lambda x, i: np.take(x, i, axis=0), (Arg((3, 4)), _ids((5,), 3))),
    OpCase("index_select_last", lambda x, i: U.index_select(x, -1, i),
           lambda x, i: np.take(x, i, axis=-1), (Arg((2, 3, 4), layout="strided"), _ids((2,), 4))),
    OpCase("index_select_int32_index", lambda x, i: x.index_select(1, i),
           lambda x, i: np.take(x, i, axis=1), (Arg((2, 3)), _ids((4,), 3, "int32"))),
    OpCase("index_select_int", lambda x, i: x.index_select(0, i), lambda x, i: np.take(x, i, 0),
           (_ids((4, 2), 9, "int32"), _ids((3,), 4)), exact=True),
    OpCase("index_select_empty", lambda x, i: x.index_select(0, i), lambda x, i: np.take(x, i, 0),
           (Arg((3, 2)), _ids((0,), 3))),
    # gather (gradient: gather_backward, repeats accumulate)
    OpCase("gather_dim1", lambda x, i: x.gather(1, i), _gather_ref(1),
           (Arg((3, 4)), _ids((3, 6), 4))),
    OpCase("gather_dim0_smaller", lambda x, i: U.gather(x, 0, i), _gather_ref(0),
           (Arg((3, 4)), _ids((2, 3), 3))),
    OpCase("gather_negative_dim", lambda x, i: x.gather(-1, i), _gather_ref(-1),
           (Arg((2, 2, 3), layout="transposed"), _ids((2, 2, 2), 3))),
    OpCase("gather_int", lambda x, i: x.gather(1, i), _gather_ref(1),
           (_ids((2, 3), 9), _ids((2, 2), 3)), exact=True),
    # embedding (gradient: embedding_backward, repeats accumulate)
    OpCase("embedding", lambda i, w: F.embedding(i, w), lambda i, w: w[i],
           (_ids((2, 3), 5), Arg((5, 3)))),
    OpCase("embedding_int32_ids", lambda i, w: F.embedding(i, w), lambda i, w: w[i],
           (_ids((4,), 3, "int32"), Arg((3, 2)))),
    OpCase("embedding_padding_forward", lambda i, w: F.embedding(i, w, padding_idx=0),
           lambda i, w: w[i], (_ids((2, 3), 4), Arg((4, 2))), grad=False),
    # masked_fill (and its gradient: masked_fill of the gradient)
    OpCase("masked_fill", lambda x, m: x.masked_fill(m, -1.0), lambda x, m: np.where(m, -1.0, x),
           (Arg((3, 4)), Arg((3, 4), "bool", "bool"))),
    OpCase("masked_fill_broadcast", lambda x, m: U.masked_fill(x, m, 2.5),
           lambda x, m: np.where(m, 2.5, x),
           (Arg((3, 4), layout="transposed"), Arg((4,), "bool", "bool"))),
    OpCase("masked_fill_int", lambda x, m: x.masked_fill(m, 7), lambda x, m: np.where(m, 7, x),
           (_ids((2, 3), 5), Arg((2, 3), "bool", "bool")), exact=True),
    OpCase("masked_fill_tensor_value", lambda x, m, v: x.masked_fill(m, v),
           lambda x, m, v: np.where(m, v, x), (Arg((2, 3)), Arg((2, 3), "bool", "bool"), Arg(()))),
]

# setitem with index tensors (index_put in place) and masks (masked_fill in place)
for _name, _key, _args in [
    ("index", lambda i: i, (_fixed([2, 0]), Arg((2, 4)))),
    ("index_broadcast_value", lambda i: i, (_fixed([1]), Arg((4,)))),
    ("columns", lambda i: (slice(None), i), (_fixed([3, 1]), Arg((3, 2)))),
    ("pairs", lambda i, j: (i, j), (_fixed([0, 2]), _fixed([1, 3]), Arg(()))),
    ("mask_tensor_value", lambda m: m, (Arg((3, 4), "bool", "bool"), Arg(()))),
]:
    _fn, _ref = _put(_key)
    CASES.append(OpCase(f"setitem_{_name}", _fn, _ref, (Arg((3, 4)),) + _args))
_fn, _ref = _put(lambda m: m, value_from_input=False)
CASES.append(OpCase("setitem_mask_scalar", _fn, _ref, (Arg((3, 4)), Arg((3, 4), "bool", "bool"))))
_fn, _ref = _put(lambda i: (1, i), value_from_input=False)
CASES.append(OpCase("setitem_mixed_int_and_index", _fn, _ref,
                    (_ids((3, 4), 9), _fixed([0, 2])), exact=True))
_fn, _ref = _put(lambda i: i)
CASES.append(OpCase("setitem_index_int_dtype", _fn, _ref,
                    (_ids((4, 2), 9, "int32"), _fixed([3]), _ids((2,), 9, "int32")), exact=True))
