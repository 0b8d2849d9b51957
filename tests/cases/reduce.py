"""Op table rows for unified/ops/reduce.py: sum, mean, max/min (values and indices), amax/amin,
argmax/argmin, var/std, logsumexp, all/any over all dims, one dim, several dims, negative dims,
keepdim, size-1 and empty dims, 0-d inputs, non-contiguous layouts and integer dtypes."""

import numpy as np

import unified as U
from tests.op_cases import Arg, OpCase


def _np_dims(dim, ndim):
    """A torch-style dim (None, int, tuple) as a NumPy axis tuple."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    return tuple(d % ndim for d in ((dim,) if isinstance(dim, int) else dim))


def _ref(fn, dim, keepdim=False, **kw):
    return lambda a: np.asarray(fn(a, axis=_np_dims(dim, a.ndim), keepdims=keepdim, **kw))


def _logsumexp(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _with_indices(fn, arg, dim, keepdim=False):
    """(values, indices) like torch.max(x, dim, keepdim)."""
    def ref(a):
        values, indices = fn(a, axis=dim), arg(a, axis=dim)
        if keepdim:
            values, indices = np.expand_dims(values, dim), np.expand_dims(indices, dim)
        return values, indices.astype(np.int64)
    return ref


def _arg_ref(arg, dim, keepdim=False):
    def ref(a):
        out = arg(a, axis=dim)
        if keepdim:
            out = np.expand_dims(out, dim) if dim is not None else out.reshape((1,) * a.ndim)
        return np.asarray(out, np.int64)
    return ref


# (tag, shape, dim, keepdim, layout)
SHAPES = [
    ("all", (3, 4), None, False, "contiguous"),
    ("dim0", (3, 4), 0, False, "contiguous"),
    ("dim1_keepdim", (3, 4), 1, True, "contiguous"),
    ("neg_dim", (2, 3, 4), -1, False, "contiguous"),
    ("dims02", (2, 3, 4), (0, 2), False, "contiguous"),
    ("dims_neg_keepdim", (2, 3, 4), (-1, 0), True, "contiguous"),
    ("middle", (2, 5, 3), 1, False, "contiguous"),
    ("size1_axes", (1, 4, 1), (0, 1), False, "contiguous"),
    ("transposed", (4, 3), 0, False, "transposed"),
    ("transposed_all", (4, 3), None, False, "transposed"),
    ("strided", (3, 5), 1, True, "strided"),
    ("rank4", (2, 2, 3, 2), (1, 3), False, "contiguous"),
]

CASES = []
for tag, shape, dim, keepdim, layout in SHAPES:
    x = Arg(shape, layout=layout)
    xd = Arg(shape, "distinct", layout=layout)
    CASES += [
        OpCase(f"sum_{tag}", lambda a, d=dim, k=keepdim: U.sum(a, d, k), _ref(np.sum, dim, keepdim),
               (x,)),
        OpCase(f"mean_{tag}", lambda a, d=dim, k=keepdim: a.mean(d, keepdim=k),
               _ref(np.mean, dim, keepdim), (x,)),
        OpCase(f"amax_{tag}", lambda a, d=dim, k=keepdim: U.amax(a, () if d is None else d, k),
               _ref(np.max, dim, keepdim), (xd,)),
        OpCase(f"amin_{tag}", lambda a, d=dim, k=keepdim: U.amin(a, () if d is None else d, k),
               _ref(np.min, dim, keepdim), (xd,)),
        OpCase(f"var_{tag}", lambda a, d=dim, k=keepdim: a.var(d, keepdim=k),
               _ref(np.var, dim, keepdim, ddof=1), (x,), grad_rtol=5e-3),
        OpCase(f"logsumexp_{tag}", lambda a, d=dim, k=keepdim: U.logsumexp(a, d, k),
               _ref(_logsumexp, dim, keepdim), (x,)),
    ]

CASES += [
    # sum: integer dtypes give int64, empty dims give 0, 0-d inputs
    OpCase("sum_int32", lambda a: a.sum(1), lambda a: a.sum(1, dtype=np.int64),
           (Arg((3, 4), "int", "int32", high=100),), exact=True),
    OpCase("sum_int64_all", lambda a: a.sum(), lambda a: np.asarray(a.sum(dtype=np.int64)),
           (Arg((5, 3), "int", "int64", high=1000),), exact=True),
    OpCase("sum_bool_counts", lambda a: a.sum(0), lambda a: a.sum(0, dtype=np.int64),
           (Arg((6, 3), "bool", "bool"),), exact=True),
    OpCase("sum_uint8", lambda a: a.sum((0, 1)), lambda a: np.asarray(a.sum(dtype=np.int64)),
           (Arg((4, 4), "uint8", "uint8"),), exact=True),
    OpCase("sum_dtype_arg", lambda a: U.sum(a, 0, dtype=U.float32), lambda a: a.sum(0),
           (Arg((3, 2), "int", "int64", high=9),)),
    OpCase("sum_empty_dim", lambda a: a.sum(0), lambda a: a.sum(0), (Arg((0, 3)),)),
    OpCase("sum_empty_kept", lambda a: a.sum(1), lambda a: a.sum(1), (Arg((0, 3)),)),
    OpCase("sum_0d", lambda a: a.sum(), lambda a: a, (Arg(()),)),
    OpCase("sum_0d_dim", lambda a: a.sum(-1, keepdim=True), lambda a: a, (Arg(()),)),
    OpCase("sum_empty_tuple_is_all", lambda a: a.sum(()), lambda a: np.asarray(a.sum()),
           (Arg((2, 3)),)),
    OpCase("mean_empty_is_nan", lambda a: a.mean(1), lambda a: np.full(a.shape[:1], np.nan),
           (Arg((3, 0)),), grad=False),
    # max / min with a dim: (values, indices); over all dims: a 0-d value
    OpCase("max_all", lambda a: U.max(a), lambda a: np.asarray(a.max()),
           (Arg((3, 4), "distinct"),)),
    OpCase("max_dim", lambda a: U.max(a, 1), _with_indices(np.max, np.argmax, 1),
           (Arg((3, 4), "distinct"),)),
    OpCase("max_dim_keepdim", lambda a: a.max(0, keepdim=True),
           _with_indices(np.max, np.argmax, 0, True), (Arg((3, 4), "distinct"),)),
    OpCase("max_neg_dim_transposed", lambda a: U.max(a, -1), _with_indices(np.max, np.argmax, 1),
           (Arg((4, 3), "distinct", layout="transposed"),)),
    OpCase("max_int", lambda a: U.max(a, 0), _with_indices(np.max, np.argmax, 0),
           (Arg((4, 3), "int", "int32", high=7),), exact=True),
    OpCase("max_uint8_all", lambda a: a.max(), lambda a: np.asarray(a.max()),
           (Arg((4, 3), "uint8", "uint8"),), exact=True),
    OpCase("max_bool", lambda a: U.amax(a, 1), lambda a: a.max(1), (Arg((4, 3), "bool", "bool"),),
           exact=True),
    OpCase("max_empty_kept", lambda a: U.max(a, 1), _with_indices(np.max, np.argmax, 1),
           (Arg((0, 3)),)),
    OpCase("max_other_is_maximum", lambda a, b: U.max(a, b), np.maximum,
           (Arg((3,), "distinct"), Arg((3,), "away"))),
    OpCase("min_all", lambda a: a.min(), lambda a: np.asarray(a.min()), (Arg((2, 5), "distinct"),)),
    OpCase("min_dim", lambda a: U.min(a, 0), _with_indices(np.min, np.argmin, 0),
           (Arg((3, 4), "distinct"),)),
    OpCase("min_dim_keepdim_strided", lambda a: a.min(1, keepdim=True),
           _with_indices(np.min, np.argmin, 1, True), (Arg((3, 4), "distinct", layout="strided"),)),
    OpCase("min_int64", lambda a: U.min(a, 1), _with_indices(np.min, np.argmin, 1),
           (Arg((3, 5), "int", "int64", high=9),), exact=True),
    OpCase("min_other_is_minimum", lambda a, b: U.min(a, other=b), np.minimum,
           (Arg((2, 3), "distinct"), Arg((3,), "away"))),
    # argmax / argmin (not differentiable): int64; dim=None indexes the flattened tensor; ties
    # give the first index
    OpCase("argmax_flat", lambda a: a.argmax(), _arg_ref(np.argmax, None),
           (Arg((3, 4), "distinct"),), grad=False),
    OpCase("argmax_flat_keepdim", lambda a: U.argmax(a, keepdim=True),
           _arg_ref(np.argmax, None, True), (Arg((3, 4), "distinct"),), grad=False),
    OpCase("argmax_dim", lambda a: a.argmax(1), _arg_ref(np.argmax, 1),
           (Arg((3, 4), "distinct"),), grad=False),
    OpCase("argmax_dim0_keepdim", lambda a: a.argmax(0, keepdim=True),
           _arg_ref(np.argmax, 0, True), (Arg((3, 5), "distinct"),), grad=False),
    OpCase("argmax_ties_first", lambda a: a.argmax(1), _arg_ref(np.argmax, 1),
           (Arg((4, 6), "int", "int64", high=3),)),
    OpCase("argmax_transposed", lambda a: a.argmax(0), _arg_ref(np.argmax, 0),
           (Arg((5, 3), "distinct", layout="transposed"),), grad=False),
    OpCase("argmax_bool", lambda a: a.argmax(1), _arg_ref(np.argmax, 1),
           (Arg((3, 4), "bool", "bool"),)),
    OpCase("argmin_flat", lambda a: U.argmin(a), _arg_ref(np.argmin, None),
           (Arg((2, 3, 2), "distinct"),), grad=False),
    OpCase("argmin_dim_strided", lambda a: a.argmin(-1), _arg_ref(np.argmin, 1),
           (Arg((3, 4), "distinct", layout="strided"),), grad=False),
    OpCase("argmin_ties_uint8", lambda a: a.argmin(0), _arg_ref(np.argmin, 0),
           (Arg((8, 3), "int", "uint8", high=2),)),
    # var / std: correction, unbiased=False, single-element dims
    OpCase("var_unbiased_false", lambda a: a.var(1, unbiased=False), _ref(np.var, 1, ddof=0),
           (Arg((3, 4)),)),
    OpCase("var_positional_unbiased", lambda a: U.var(a, False), _ref(np.var, None, ddof=0),
           (Arg((3, 4)),)),
    OpCase("var_correction_2", lambda a: a.var((0, 1), correction=2), _ref(np.var, None, ddof=2),
           (Arg((3, 4)),), grad_rtol=5e-3),
    OpCase("var_one_element_is_nan", lambda a: a.var(0), lambda a: np.full(a.shape[1:], np.nan),
           (Arg((1, 3)),), grad=False),
    OpCase("std_all", lambda a: a.std(), _ref(np.std, None, ddof=1), (Arg((3, 4)),)),
    OpCase("std_dim_keepdim", lambda a: U.std(a, 0, keepdim=True, correction=0),
           _ref(np.std, 0, True, ddof=0), (Arg((4, 3)),)),
    # logsumexp: large values stay finite (shifted), an empty dim gives -inf
    OpCase("logsumexp_large_values", lambda a: (a * 100.0).logsumexp(1),
           lambda a: _logsumexp(a * 100.0, axis=(1,)), (Arg((3, 4)),), rtol=1e-5, atol=1e-4),
    OpCase("logsumexp_empty_is_neg_inf", lambda a: a.logsumexp(0),
           lambda a: np.full(a.shape[1:], -np.inf), (Arg((0, 3)),), grad=False),
    # all / any: bool results for every dtype, over all dims or some
    OpCase("all_float", lambda a: a.all(), lambda a: np.asarray(a.all()),
           (Arg((3, 4), "int", "float32", high=2),), grad=False),
    OpCase("all_dim_bool", lambda a: U.all(a, 1), lambda a: a.all(1),
           (Arg((4, 2), "bool", "bool"),)),
    OpCase("all_empty_is_true", lambda a: U.all(a, 0), lambda a: a.all(0),
           (Arg((0, 3), "int", "int64"),)),
    OpCase("all_true_int", lambda a: a.all(), lambda a: np.asarray(True),
           (Arg((3, 4), value=np.ones((3, 4)), dtype="int32"),)),
    OpCase("any_uint8", lambda a: a.any(), lambda a: np.asarray(a.any()),
           (Arg((3, 4), "int", "uint8", high=2),)),
    OpCase("any_dims_keepdim", lambda a: U.any(a, (0, 2), keepdim=True),
           lambda a: a.any(axis=(0, 2), keepdims=True), (Arg((2, 3, 2), "bool", "bool"),)),
    OpCase("any_none_is_false", lambda a: a.any(), lambda a: np.asarray(False),
           (Arg((2, 2), value=np.zeros((2, 2))),), grad=False),
]
