"""Op table rows for unified/ops/nn.py: softmax/log_softmax over every dim and layout,
batch_norm (training, eval, running-stat updates), layer_norm, topk and one_hot; gradient rows
also run the backward ops (softmax_backward, batch_norm_backward, ...)."""

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase
from unified.ops import nn as nn_ops

EPS = 1e-5


def _softmax(x, dim):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def _log_softmax(x, dim):
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


def _bn_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _bn_shape(x):
    return (1, -1) + (1,) * (x.ndim - 2)


def _bn_train(x, rm, rv, w, b):
    axes = _bn_axes(x)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w.reshape(_bn_shape(x)) + b.reshape(_bn_shape(x))


def _bn_eval(x, rm, rv, w, b):
    s = _bn_shape(x)
    return (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + EPS) * w.reshape(s) + b.reshape(s)


def _bn_running(x, rm, rv, w, b, momentum=0.1):
    axes = _bn_axes(x)
    n = x.size // x.shape[1]
    return (_bn_train(x, rm, rv, w, b), (1 - momentum) * rm + momentum * x.mean(axis=axes),
            (1 - momentum) * rv + momentum * x.var(axis=axes) * n / (n - 1))


def _bn_train_running(x, rm, rv, w, b):
    out = F.batch_norm(x, rm, rv, w, b, training=True)
    return out, rm, rv


def _ln(x, k, w=None, b=None):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + EPS)
    return y * (1.0 if w is None else w) + (0.0 if b is None else b)


def _topk(x, k, dim=-1, largest=True):
    keys = -x if largest else x
    idx = np.take(np.argsort(keys, axis=dim, kind="stable"), np.arange(k), axis=dim)
    return np.take_along_axis(x, idx, axis=dim), idx.astype(np.int64)


def _topk_backward_ref(g, idx, dim_size=5):
    out = np.zeros(g.shape[:1] + (dim_size,))
    for row in range(g.shape[0]):
        np.add.at(out[row], idx[row], g[row])
    return out


def _one_hot(x, c):
    return np.eye(c, dtype=np.int64)[x]


CASES = []
for name, fn, ref in [("softmax", F.softmax, _softmax), ("log_softmax", F.log_softmax,
                                                          _log_softmax)]:
    CASES += [
        OpCase(f"{name}_last", lambda x, fn=fn: fn(x, -1), lambda x, ref=ref: ref(x, -1),
               (Arg((3, 5)),)),
        OpCase(f"{name}_dim0", lambda x, fn=fn: fn(x, 0), lambda x, ref=ref: ref(x, 0),
               (Arg((4, 3)),)),
        OpCase(f"{name}_middle", lambda x, fn=fn: fn(x, 1), lambda x, ref=ref: ref(x, 1),
               (Arg((2, 3, 4)),)),
        OpCase(f"{name}_transposed", lambda x, fn=fn: fn(x, 1), lambda x, ref=ref: ref(x, 1),
               (Arg((4, 5), layout="transposed"),)),
        OpCase(f"{name}_strided", lambda x, fn=fn: fn(x, -1), lambda x, ref=ref: ref(x, -1),
               (Arg((3, 4), layout="strided"),)),
        OpCase(f"{name}_large_values", lambda x, fn=fn: fn(x, -1), lambda x, ref=ref: ref(x, -1),
               (Arg((2, 3), value=[[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -999.0]]),)),
        OpCase(f"{name}_size1_dim", lambda x, fn=fn: fn(x, 1), lambda x, ref=ref: ref(x, 1),
               (Arg((3, 1)),)),
        OpCase(f"{name}_scalar", lambda x, fn=fn: fn(x, 0), lambda x, ref=ref: ref(x, 0),
               (Arg(()),)),
        OpCase(f"{name}_empty_batch", lambda x, fn=fn: fn(x, -1), lambda x, ref=ref: ref(x, -1),
               (Arg((0, 4)),)),
        OpCase(f"{name}_method", lambda x, name=name: getattr(x, name)(0),
               lambda x, ref=ref: ref(x, 0), (Arg((3, 2)),)),
    ]


# The backward ops directly, so their own grads (double backward) are checked in both inputs.
def _softmax_backward_ref(g, y):
    return y * (g - np.sum(g * y, axis=-1, keepdims=True))


def _log_softmax_backward_ref(g, y):
    return g - np.exp(y) * np.sum(g, axis=-1, keepdims=True)


CASES += [
    OpCase("softmax_backward_op", lambda g, y: F.call_op(nn_ops.softmax_backward, g, y, dim=-1),
           _softmax_backward_ref, (Arg((2, 4)), Arg((2, 4), "unit"))),
    OpCase("log_softmax_backward_op",
           lambda g, y: F.call_op(nn_ops.log_softmax_backward, g, y, dim=1),
           _log_softmax_backward_ref, (Arg((3, 4)), Arg((3, 4), "unit", layout="transposed"))),
]

BN_STATS = (Arg((3,), grad=False), Arg((3,), "positive", grad=False))
CASES += [
    OpCase("batch_norm_train_2d", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, True),
           _bn_train, (Arg((6, 3)),) + BN_STATS + (Arg((3,)), Arg((3,))), rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_train_4d", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, True),
           _bn_train, (Arg((3, 3, 2, 2)),) + BN_STATS + (Arg((3,)), Arg((3,))),
           rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_train_3d_strided",
           lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True), _bn_train,
           (Arg((4, 3, 5), layout="strided"),) + BN_STATS + (Arg((3,)), Arg((3,))),
           rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_eval_4d", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b),
           _bn_eval, (Arg((2, 3, 2, 3)),) + BN_STATS + (Arg((3,)), Arg((3,)))),
    OpCase("batch_norm_no_affine",
           lambda x, rm, rv: F.batch_norm(x, rm, rv, training=True),
           lambda x, rm, rv: _bn_train(x, rm, rv, np.ones(3), np.zeros(3)),
           (Arg((5, 3)),) + BN_STATS, rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_no_running_stats",
           lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: _bn_train(x, None, None, w, b), (Arg((4, 3)), Arg((3,)), Arg((3,))),
           rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_updates_running_stats", _bn_train_running, _bn_running,
           (Arg((4, 3, 2)),) + BN_STATS + (Arg((3,)), Arg((3,))), grad=False,
           rtol=1e-4, atol=1e-4),
    OpCase("batch_norm_eval_empty_batch", lambda x, rm, rv: F.batch_norm(x, rm, rv),
           lambda x, rm, rv: _bn_eval(x, rm, rv, np.ones(3), np.zeros(3)),
           (Arg((0, 3)),) + BN_STATS),
]

CASES += [
    OpCase("layer_norm_last", lambda x, w, b: F.layer_norm(x, (6,), w, b),
           lambda x, w, b: _ln(x, 1, w, b), (Arg((4, 6)), Arg((6,)), Arg((6,))),
           rtol=1e-4, atol=1e-4),
    OpCase("layer_norm_two_dims", lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
           lambda x, w, b: _ln(x, 2, w, b), (Arg((2, 3, 4)), Arg((3, 4)), Arg((3, 4))),
           rtol=1e-4, atol=1e-4),
    OpCase("layer_norm_no_affine_int_shape", lambda x: F.layer_norm(x, 5), lambda x: _ln(x, 1),
           (Arg((3, 5)),), rtol=1e-4, atol=1e-4),
    OpCase("layer_norm_transposed", lambda x, w: F.layer_norm(x, [3], w),
           lambda x, w: _ln(x, 1, w), (Arg((4, 3), layout="transposed"), Arg((3,))),
           rtol=1e-4, atol=1e-4),
    OpCase("layer_norm_1d", lambda x, w, b: F.layer_norm(x, (5,), w, b),
           lambda x, w, b: _ln(x, 1, w, b), (Arg((5,)), Arg((5,)), Arg((5,))),
           rtol=1e-4, atol=1e-4),
    OpCase("layer_norm_empty_batch", lambda x: F.layer_norm(x, (4,)), lambda x: _ln(x, 1),
           (Arg((0, 4)),)),
]

CASES += [
    OpCase("topk_last", lambda x: U.topk(x, 2), lambda x: _topk(x, 2), (Arg((3, 6), "distinct"),)),
    OpCase("topk_smallest_dim0", lambda x: U.topk(x, 3, dim=0, largest=False),
           lambda x: _topk(x, 3, 0, False), (Arg((5, 4), "distinct"),)),
    OpCase("topk_middle_dim", lambda x: x.topk(2, 1), lambda x: _topk(x, 2, 1),
           (Arg((2, 5, 3), "distinct"),)),
    OpCase("topk_transposed", lambda x: U.topk(x, 2, -1), lambda x: _topk(x, 2, -1),
           (Arg((4, 5), "distinct", layout="transposed"),)),
    OpCase("topk_all", lambda x: U.topk(x, 4), lambda x: _topk(x, 4), (Arg((3, 4), "distinct"),)),
    OpCase("topk_k0", lambda x: U.topk(x, 0), lambda x: _topk(x, 0), (Arg((3, 4), "distinct"),)),
    OpCase("topk_scalar", lambda x: U.topk(x, 1), lambda x: (x, np.array(0, np.int64)),
           (Arg(()),)),
    OpCase("topk_ties_keep_index_order", lambda x: U.topk(x, 3), lambda x: _topk(x, 3),
           (Arg((6,), value=[1.0, 3.0, 1.0, 3.0, 2.0, 1.0]),), grad=False),
    OpCase("topk_nan_ranks_first", lambda x: U.topk(x, 2),
           lambda x: (np.array([np.nan, 2.0]), np.array([1, 0])),
           (Arg((3,), value=[2.0, np.nan, -1.0]),), grad=False),
    OpCase("topk_int64", lambda x: U.topk(x, 2, largest=False), lambda x: _topk(x, 2, -1, False),
           (Arg((3, 5), "int", "int64", high=100),), exact=True),
    OpCase("topk_backward_op_duplicates_accumulate",
           lambda g, i: F.call_op(nn_ops.topk_backward, g, i, dim=1, dim_size=5),
           _topk_backward_ref, (Arg((3, 4)), Arg((3, 4), "int", "int64", high=5))),
    OpCase("topk_int32", lambda x: U.topk(x, 1, 0), lambda x: _topk(x, 1, 0),
           (Arg((4, 2), "int", "int32", high=100),), exact=True),
]

CASES += [
    OpCase("one_hot", lambda x: F.one_hot(x, 5), lambda x: _one_hot(x, 5),
           (Arg((3, 4), "int", "int64", high=5),), exact=True),
    OpCase("one_hot_int32_transposed", lambda x: F.one_hot(x, 3), lambda x: _one_hot(x, 3),
           (Arg((2, 4), "int", "int32", high=3, layout="transposed"),), exact=True),
    OpCase("one_hot_inferred_classes", F.one_hot, lambda x: _one_hot(x, int(x.max()) + 1),
           (Arg((6,), value=[0, 3, 1, 3, 2, 0], dtype="int64"),), exact=True),
    OpCase("one_hot_scalar", lambda x: F.one_hot(x, 4), lambda x: _one_hot(x, 4),
           (Arg((), value=2, dtype="int64"),), exact=True),
    OpCase("one_hot_empty", lambda x: F.one_hot(x, 3), lambda x: np.zeros((0, 3), np.int64),
           (Arg((0,), "int", "int64"),), exact=True),
]
