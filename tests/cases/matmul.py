"""Op table rows for unified/ops/matmul.py: matmul over 1-D, 2-D and broadcast batched shapes,
non-contiguous operands, empty dims; mm/bmm/mv/dot built on it; the linear op (F.linear) over
1-D, 2-D and N-D inputs, with and without bias, non-contiguous operands and partial grads."""

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase


def _linear_ref(x, w, b=None):
    out = x @ w.T
    return out if b is None else out + b


SHAPES = [
    ("2d", (3, 4), (4, 5)),
    ("vec_mat", (4,), (4, 3)),
    ("mat_vec", (3, 4), (4,)),
    ("vec_vec", (5,), (5,)),
    ("batched", (2, 3, 4), (2, 4, 2)),
    ("broadcast_batch", (2, 1, 3, 4), (3, 4, 2)),
    ("batch_mat", (2, 3, 4), (4, 2)),
    ("vec_batch", (4,), (2, 4, 3)),
    ("batch_vec", (2, 3, 4), (4,)),
    ("size1", (1, 4), (4, 1)),
]

CASES = [OpCase(f"matmul_{tag}", lambda a, b: a @ b, np.matmul, (Arg(sa), Arg(sb)))
         for tag, sa, sb in SHAPES]
CASES += [
    OpCase("matmul_transposed_a", lambda a, b: a @ b, np.matmul,
           (Arg((3, 4), layout="transposed"), Arg((4, 5)))),
    OpCase("matmul_transposed_both", lambda a, b: a @ b, np.matmul,
           (Arg((3, 4), layout="transposed"), Arg((4, 5), layout="transposed"))),
    OpCase("matmul_strided", lambda a, b: a @ b, np.matmul,
           (Arg((3, 4), layout="strided"), Arg((4, 5), layout="strided"))),
    OpCase("matmul_batched_transposed", lambda a, b: U.matmul(a, b.mT),
           lambda a, b: a @ np.swapaxes(b, -1, -2),
           (Arg((2, 3, 4)), Arg((2, 5, 4)))),
    OpCase("matmul_empty_rows", lambda a, b: a @ b, np.matmul, (Arg((0, 3)), Arg((3, 2)))),
    OpCase("matmul_empty_inner", lambda a, b: a @ b, np.matmul, (Arg((3, 0)), Arg((0, 2)))),
    OpCase("matmul_empty_batch", lambda a, b: a @ b, np.matmul, (Arg((0, 2, 3)), Arg((3, 2)))),
    # big enough that the kernel splits one product across threads / runs batches in parallel
    OpCase("matmul_large_split", lambda a, b: a @ b, np.matmul, (Arg((130, 70)), Arg((70, 90))),
           grad=False, rtol=1e-4, atol=1e-4),
    OpCase("matmul_large_transposed", lambda a, b: a @ b, np.matmul,
           (Arg((130, 70), layout="transposed"), Arg((70, 90), layout="transposed")),
           grad=False, rtol=1e-4, atol=1e-4),
    OpCase("matmul_many_batches", lambda a, b: a @ b, np.matmul, (Arg((64, 8, 9)), Arg((9, 7))),
           grad=False, rtol=1e-4, atol=1e-4),
    OpCase("mm", U.mm, np.matmul, (Arg((3, 4)), Arg((4, 2)))),
    OpCase("bmm", U.bmm, np.matmul, (Arg((2, 3, 4)), Arg((2, 4, 2)))),
    OpCase("mv", U.mv, np.matmul, (Arg((3, 4)), Arg((4,)))),
    OpCase("dot", U.dot, np.dot, (Arg((6,)), Arg((6,)))),
    OpCase("linear", F.linear, _linear_ref, (Arg((3, 4)), Arg((5, 4)), Arg((5,)))),
    OpCase("linear_no_bias", F.linear, _linear_ref, (Arg((3, 4)), Arg((5, 4)))),
    OpCase("linear_batched", F.linear, _linear_ref, (Arg((2, 3, 4)), Arg((2, 4)), Arg((2,)))),
    OpCase("linear_vector_input", F.linear, _linear_ref, (Arg((4,)), Arg((3, 4)), Arg((3,)))),
    OpCase("linear_input_only_grad", F.linear, _linear_ref,
           (Arg((3, 4)), Arg((5, 4), grad=False))),
]


def _linear_no_bias(x, w):
    return F.linear(x, w)


def _linear_ref_no_bias(x, w):
    return x @ w.T


# (tag, input shape, weight shape): the linear op with a bias, then without one
LINEAR_SHAPES = [
    ("row", (1, 7), (3, 7)),
    ("wide", (4, 9), (11, 9)),
    ("one_feature", (5, 1), (2, 1)),
    ("one_output", (5, 6), (1, 6)),
    ("3d", (2, 3, 5), (4, 5)),
    ("4d", (2, 1, 3, 4), (3, 4)),
    ("3d_size1_middle", (3, 1, 4), (2, 4)),
]
CASES += [OpCase(f"linear_{tag}", F.linear, _linear_ref, (Arg(sx), Arg(sw), Arg((sw[0],))))
          for tag, sx, sw in LINEAR_SHAPES]
CASES += [OpCase(f"linear_{tag}_no_bias", _linear_no_bias, _linear_ref_no_bias,
                 (Arg(sx), Arg(sw))) for tag, sx, sw in LINEAR_SHAPES]
CASES += [
    OpCase("linear_vector_input_no_bias", _linear_no_bias, _linear_ref_no_bias,
           (Arg((4,)), Arg((3, 4)))),
    # non-contiguous operands: a transposed input maps without a copy in 2-D; in 3-D its
    # leading dims do not merge into one row stride, so the kernel copies it
    OpCase("linear_transposed_input", F.linear, _linear_ref,
           (Arg((3, 4), layout="transposed"), Arg((5, 4)), Arg((5,)))),
    OpCase("linear_transposed_weight", F.linear, _linear_ref,
           (Arg((3, 4)), Arg((5, 4), layout="transposed"), Arg((5,)))),
    OpCase("linear_strided_all", F.linear, _linear_ref,
           (Arg((3, 4), layout="strided"), Arg((5, 4), layout="strided"),
            Arg((5,), layout="strided"))),
    OpCase("linear_3d_transposed_input", F.linear, _linear_ref,
           (Arg((2, 3, 4), layout="transposed"), Arg((5, 4)), Arg((5,)))),
    OpCase("linear_3d_strided_input", F.linear, _linear_ref,
           (Arg((2, 3, 4), layout="strided"), Arg((5, 4), layout="transposed"), Arg((5,)))),
    # partial gradients: only the inputs that require grad get one
    OpCase("linear_weight_only_grad", F.linear, _linear_ref,
           (Arg((3, 4), grad=False), Arg((5, 4)), Arg((5,), grad=False))),
    OpCase("linear_bias_only_grad", F.linear, _linear_ref,
           (Arg((2, 3, 4), grad=False), Arg((5, 4), grad=False), Arg((5,)))),
    OpCase("linear_empty_rows", F.linear, _linear_ref, (Arg((0, 4)), Arg((3, 4)), Arg((3,)))),
    OpCase("linear_no_in_features", F.linear, _linear_ref, (Arg((2, 0)), Arg((3, 0)), Arg((3,)))),
    # big enough that gemm_f32 splits the product across threads (rows, then columns)
    OpCase("linear_large_rows", F.linear, _linear_ref,
           (Arg((130, 70)), Arg((90, 70)), Arg((90,))), grad=False, rtol=1e-4, atol=1e-4),
    OpCase("linear_large_cols_3d", F.linear, _linear_ref,
           (Arg((2, 8, 70), layout="transposed"), Arg((300, 70)), Arg((300,))),
           grad=False, rtol=1e-4, atol=1e-4),
]
