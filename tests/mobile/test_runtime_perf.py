"""The kernel changes behind the edge runtime's latency work (issue 6), through unified._core:
fused_conv2d's relu applied in the conv tile's registers is bit-identical to conv2d then relu
(NaN, -0 and the digits CNN's layer shapes: whole-packet rows, stride 2, small outputs, channel
counts that are not a multiple of the tile), the per-thread cached conv scratch gives the same
answers when one geometry runs again on new data and between other geometries, and
adaptive_avg_pool2d (window bounds hoisted out of the plane loop) equals NumPy's mean."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from unified.functional import call_op
from unified.ops.fused_conv import fused_conv2d
from unified.ops.registry import lookup

F32 = np.dtype("float32")

# (input shape, out channels, stride): the digits CNN's three convs at batch 1 (rows of whole
# packets, then 16- and 8-wide stride-2 outputs), a 10-channel conv (a partial tile) with 7-wide
# rows, and batch 2 with a 3-channel input
SHAPES = {
    "digits_conv1": ((1, 1, 32, 32), 16, 1),
    "digits_conv2": ((1, 16, 32, 32), 32, 2),
    "digits_conv3": ((1, 32, 16, 16), 64, 2),
    "partial_tile_odd_rows": ((1, 5, 9, 7), 10, 1),
    "batch2": ((2, 3, 12, 20), 12, 2),
}
CONV = {"padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}


def _conv_inputs(shape, out_channels, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(F32)
    w = rng.standard_normal((out_channels, shape[1], 3, 3)).astype(F32)
    b = rng.standard_normal(out_channels).astype(F32)
    return x, w, b


def _fused_and_reference(x, w, b, stride):
    xt, wt, bt = U.tensor(x), U.tensor(w), U.tensor(b)
    attrs = dict(CONV, stride=(stride, stride))
    got = call_op(fused_conv2d, xt, wt, bt, activation="relu", p0=0.0, p1=0.0, **attrs)
    pre = call_op(lookup("conv2d"), xt, wt, bt, **attrs)
    return got.numpy(), call_op(lookup("relu"), pre).numpy(), pre.numpy()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(SHAPES))
def test_fused_relu_in_registers_is_bit_identical(case, threads):
    shape, out_channels, stride = SHAPES[case]
    x, w, b = _conv_inputs(shape, out_channels, seed=len(case))
    before = U.get_num_threads()
    U.set_num_threads(threads)
    try:
        got, want, pre = _fused_and_reference(x, w, b, stride)
    finally:
        U.set_num_threads(before)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    assert (pre < 0).any() and (got == 0).sum() == (pre <= 0).sum()


def test_fused_relu_maps_nan_and_negative_zero_to_positive_zero():
    x, w, b = _conv_inputs((1, 2, 16, 16), 8, seed=3)
    x[0, 0, 3, 4] = np.nan  # NaN reaches the outputs whose windows hold it
    b[:] = 0.0
    w[1] = 0.0  # channel 1: every output is 0 * x (-0.0 where x < 0 ... and NaN at the NaN)
    got, want, pre = _fused_and_reference(x, w, b, 1)
    assert np.isnan(pre).any()
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    assert not np.signbit(got).any() and not np.isnan(got).any()


def test_cached_scratch_gives_fresh_answers_for_a_geometry_seen_before():
    """The same conv geometry again on new data, with other geometries run in between (their
    scratch entries interleave in the per-thread cache), equals a float64 reference."""
    from tests.cases.conv import conv2d_ref

    shapes = [SHAPES["digits_conv2"], SHAPES["partial_tile_odd_rows"], SHAPES["digits_conv3"]]
    for round_ in range(3):
        for k, (shape, out_channels, stride) in enumerate(shapes):
            x, w, b = _conv_inputs(shape, out_channels, seed=10 * round_ + k)
            got, _, pre = _fused_and_reference(x, w, b, stride)
            ref = conv2d_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                             stride=(stride, stride), padding=(1, 1, 1, 1))
            np.testing.assert_allclose(pre, ref, rtol=1e-4, atol=1e-4)
            np.testing.assert_array_equal(got, np.maximum(pre, 0))


@pytest.mark.parametrize("shape, out", [((1, 64, 8, 8), (1, 1)), ((2, 3, 7, 10), (3, 4)),
                                        ((1, 5, 6, 6), (6, 6))])
def test_adaptive_avg_pool2d_equals_numpy(shape, out):
    x = np.random.default_rng(5).standard_normal(shape).astype(F32)
    got = call_op(lookup("adaptive_avg_pool2d"), U.tensor(x), output_size=out).numpy()
    n, c, h, w = shape
    want = np.empty((n, c, *out))
    for i in range(out[0]):
        y0, y1 = i * h // out[0], -(-(i + 1) * h // out[0])
        for j in range(out[1]):
            x0, x1 = j * w // out[1], -(-(j + 1) * w // out[1])
            want[:, :, i, j] = x[:, :, y0:y1, x0:x1].astype(np.float64).mean(axis=(2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
