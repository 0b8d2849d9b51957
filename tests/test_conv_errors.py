"""Error messages of the conv family (unified/ops/conv.py, pool.py, interpolate.py): they name
the op, the shapes or values, and the caller's file:line; bad arguments raise ValueError or
TypeError naming the argument; kernels reject out-of-range indices with an IndexError."""

import sys

import numpy as np
import pytest

import unified as U
import unified.functional as F
from unified.errors import ShapeError
from unified.ops import OPS


def _line_below() -> int:
    return sys._getframe(1).f_lineno + 1


def test_conv2d_channel_mismatch_names_shapes_and_line():
    x, w = U.zeros(8, 3, 32, 32), U.zeros(16, 4, 3, 3)
    with pytest.raises(ShapeError) as info:
        line = _line_below()
        F.conv2d(x, w)
    message = str(info.value)
    assert ("conv2d: input has 3 channels but weight expects 4 "
            "(input (8, 3, 32, 32), weight (16, 4, 3, 3))") in message
    assert f"test_conv_errors.py:{line}" in message


def test_conv2d_kernel_larger_than_padded_input():
    with pytest.raises(ShapeError, match=r"kernel size 5 .* larger than the padded input size 4"):
        F.conv2d(U.zeros(1, 1, 2, 2), U.zeros(1, 1, 5, 5), padding=1)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"padding": -1}, "padding must be >= 0"),
    ({"stride": 0}, "stride must be >= 1"),
    ({"dilation": (1, 0)}, "dilation must be >= 1"),
    ({"groups": 0}, "groups must be a positive int"),
    ({"padding": "full"}, "padding must be 'same', 'valid'"),
    ({"padding": "same", "stride": 2}, "not supported for strided"),
])
def test_conv2d_bad_arguments_raise_value_error(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.conv2d(U.zeros(1, 2, 5, 5), U.zeros(2, 2, 3, 3), **kwargs)


def test_conv2d_stride_of_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="stride must be an int or a pair"):
        F.conv2d(U.zeros(1, 2, 5, 5), U.zeros(2, 2, 3, 3), stride=1.5)


def test_conv2d_groups_must_divide_channels():
    with pytest.raises(ShapeError, match=r"groups=2 must divide the weight's 3 output channels"):
        F.conv2d(U.zeros(1, 4, 5, 5), U.zeros(3, 2, 3, 3), groups=2)


def test_conv2d_bias_shape_is_checked():
    with pytest.raises(ShapeError, match=r"bias must have shape \(2,\), got \(3,\)"):
        F.conv2d(U.zeros(1, 2, 5, 5), U.zeros(2, 2, 3, 3), U.zeros(3))


def test_conv2d_int_input_is_a_dtype_error():
    with pytest.raises(TypeError, match="conv2d: input must be float32, got int64"):
        F.conv2d(U.zeros(1, 2, 5, 5, dtype=U.int64), U.zeros(2, 2, 3, 3))


def test_conv_transpose2d_channel_mismatch():
    with pytest.raises(ShapeError, match=r"input has 3 channels but weight expects 2"):
        F.conv_transpose2d(U.zeros(1, 3, 4, 4), U.zeros(2, 2, 3, 3))


def test_conv_transpose2d_output_padding_must_be_below_stride():
    with pytest.raises(ShapeError, match="output_padding 2 must be smaller than stride 2"):
        F.conv_transpose2d(U.zeros(1, 2, 4, 4), U.zeros(2, 2, 3, 3), stride=2, output_padding=2)


def test_max_pool2d_padding_above_half_kernel():
    with pytest.raises(ShapeError, match="padding 2 must be at most half the kernel size 3"):
        F.max_pool2d(U.zeros(1, 1, 6, 6), 3, padding=2)


def test_pool_of_a_2d_tensor_names_its_shape():
    with pytest.raises(ShapeError, match=r"avg_pool2d: input must be 4-D \(N, C, H, W\), got"):
        F.avg_pool2d(U.zeros(4, 4), 2)


def test_max_pool2d_backward_rejects_out_of_range_index():
    grad = U.ones(1, 1, 2, 2)
    indices = U.tensor(np.array([[[[0, 1], [2, 99]]]], np.int64))
    with pytest.raises(IndexError, match="index 99 is out of range for an input plane of 16"):
        F.call_op(OPS["max_pool2d_backward"], grad, indices, input_size=(4, 4))


def test_interpolate_needs_exactly_one_of_size_and_scale_factor():
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(U.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(U.zeros(1, 1, 2, 2), size=4, scale_factor=2)


def test_interpolate_rejects_unknown_mode_and_nearest_align_corners():
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(U.zeros(1, 1, 2, 2), size=4, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners can only be set"):
        F.interpolate(U.zeros(1, 1, 2, 2), size=4, align_corners=True)


def test_bad_padding_value_names_the_callers_line():
    with pytest.raises(ValueError) as info:
        line = _line_below()
        F.conv2d(U.zeros(1, 2, 5, 5), U.zeros(2, 2, 3, 3), padding=-1)
    assert f"test_conv_errors.py:{line}" in str(info.value)
