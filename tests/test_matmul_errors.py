"""Error messages of matmul and the products built on it (unified/functional/linalg.py): they
name both shapes and the caller's file:line."""

import sys

import pytest

import unified as U
import unified.functional as F
from unified.errors import DTypeError, ShapeError


def _line_below() -> int:
    return sys._getframe(1).f_lineno + 1


def test_matmul_inner_mismatch_names_both_shapes_and_line():
    a, b = U.zeros(32, 784), U.zeros(128, 10)
    with pytest.raises(ShapeError) as info:
        line = _line_below()
        a @ b
    message = str(info.value)
    assert "matmul: inner dimensions differ: a is (32, 784), b is (128, 10) (784 != 128)" in message
    assert f"test_matmul_errors.py:{line}" in message


def test_matmul_batch_dims_that_do_not_broadcast():
    with pytest.raises(ShapeError, match=r"batch dimensions of a \(2, 3, 4\) and b \(3, 4, 5\)"):
        U.matmul(U.zeros(2, 3, 4), U.zeros(3, 4, 5))


def test_matmul_of_a_scalar_is_an_error():
    with pytest.raises(ShapeError, match="at least one dimension"):
        U.matmul(U.tensor(2.0), U.zeros(3))


def test_matmul_of_ints_is_a_dtype_error():
    with pytest.raises(DTypeError, match="matmul: a must be float32, got int64"):
        U.matmul(U.zeros(2, 2, dtype=U.int64), U.zeros(2, 2))


def test_mm_and_bmm_check_ranks():
    with pytest.raises(ShapeError, match=r"mm: expected 2-D tensors, got input \(3,\)"):
        U.mm(U.zeros(3), U.zeros(3, 2))
    with pytest.raises(ShapeError, match=r"bmm: expected 3-D tensors with one batch size"):
        U.bmm(U.zeros(2, 3, 4), U.zeros(3, 4, 5))


def test_linear_feature_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"linear: input has 784 features but weight expects 128 "
                                         r"\(input \(32, 784\), weight \(10, 128\)\)"):
        F.linear(U.zeros(32, 784), U.zeros(10, 128))
