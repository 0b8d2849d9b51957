"""Reduction errors name the op, the dims and shapes, and the user's own file:line; bad attrs
reaching a reduce kernel directly come back as a Status naming the kernel and the values."""

import numpy as np
import pytest

import unified as U
from unified import _core


def _line_of(marker: str) -> int:
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return i
    raise AssertionError(marker)


def _where(marker: str) -> str:
    return f"test_reduce_errors.py:{_line_of(marker)}"


def test_dim_out_of_range_names_dim_ndim_and_line():
    x = U.ones(2, 3)
    with pytest.raises(U.ShapeError) as info:
        x.sum(2)  # MARK-range
    msg = str(info.value)
    assert "sum" in msg and "dim 2" in msg and "2 dimensions" in msg
    assert _where("MARK-range") in msg


def test_repeated_dim_is_rejected():
    with pytest.raises(U.ShapeError, match=r"mean: dims \(1, -1\) name the same dim") as info:
        U.ones(2, 3).mean((1, -1))  # MARK-repeat
    assert _where("MARK-repeat") in str(info.value)


def test_non_integer_dim_is_a_type_error():
    with pytest.raises(TypeError, match="sum: dim must be an int"):
        U.ones(2, 3).sum(1.5)


def test_max_over_empty_dim_names_dim_shape_and_line():
    x = U.zeros(3, 0)
    with pytest.raises(U.ShapeError) as info:
        U.max(x, 1)  # MARK-empty
    msg = str(info.value)
    assert "max: cannot reduce over an empty dimension" in msg and "(3, 0)" in msg
    assert _where("MARK-empty") in msg


def test_argmax_of_empty_tensor_fails_but_empty_kept_dims_are_fine():
    with pytest.raises(U.ShapeError, match=r"argmax: cannot reduce .* \(0, 4\)"):
        U.zeros(0, 4).argmax()
    assert U.max(U.zeros(0, 4), 1).values.shape == (0,)


def test_mean_of_int_tensor_asks_for_a_cast():
    x = U.tensor(np.arange(4))
    with pytest.raises(U.DTypeError) as info:
        x.mean()  # MARK-mean-int
    msg = str(info.value)
    assert "mean" in msg and "int64" in msg and ".float()" in msg
    assert _where("MARK-mean-int") in msg


def test_var_and_logsumexp_need_float():
    with pytest.raises(U.DTypeError, match="var: input must be float32"):
        U.tensor(np.arange(4, dtype=np.int32)).var()
    with pytest.raises(U.DTypeError, match="logsumexp: input must be float32"):
        U.tensor([True, False]).logsumexp(0)


def test_max_with_dim_tuple_points_to_amax():
    with pytest.raises(TypeError, match="use amax"):
        U.max(U.ones(2, 3), (0, 1))


def test_kernel_rejects_unsorted_dims_with_values():
    kid = _core.kernel_id("sum")
    attrs = _core.Attrs({"dims": (1, 0), "keepdim": False})
    with pytest.raises(ValueError, match=r"sum: dims \(1, 0\) must be sorted.*\(2, 3\)"):
        _core.run(kid, (np.ones((2, 3), np.float32),), (np.empty((), np.float32),), attrs)


def test_kernel_rejects_wrong_output_shape():
    kid = _core.kernel_id("mean")
    attrs = _core.Attrs({"dims": (1,), "keepdim": True})
    want = (r"mean: output shape \(2,\) does not match input \(2, 3\) reduced over dims \(1,\) "
            r"\(expected \(2, 1\)\)")
    with pytest.raises(ValueError, match=want):
        _core.run(kid, (np.ones((2, 3), np.float32),), (np.empty(2, np.float32),), attrs)


def test_kernel_rejects_empty_max_without_crashing():
    kid = _core.kernel_id("argmin")
    attrs = _core.Attrs({"dims": (0,), "keepdim": False})
    with pytest.raises(ValueError, match="argmin: cannot reduce over an empty dimension"):
        _core.run(kid, (np.ones((0, 3), np.float32),), (np.empty(3, np.int64),), attrs)
