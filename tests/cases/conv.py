"""Op table rows for unified/ops/conv.py, pool.py and interpolate.py: conv2d (stride, padding
incl. 'same', dilation, groups, 1x1), conv_transpose2d, the pools and interpolate. Gradient
rows also exercise every backward op; double-backward rows run the backward ops' own grads."""

import numpy as np

import unified.functional as F
from tests.op_cases import Arg, OpCase


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Direct NCHW convolution; padding is (top, left, bottom, right)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[2]), (padding[1], padding[3])))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                y0, x0 = i * dilation[0], j * dilation[1]
                patch = xs[:, :, y0:y0 + stride[0] * (oh - 1) + 1:stride[0],
                           x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                         w[g * og:(g + 1) * og, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def conv_transpose2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                         groups=1, dilation=(1, 1)):
    """Scatter form: every input pixel adds weight * value into the output canvas."""
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    oh, ow = ((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, s, p, d, k, op in
              zip((h, wd), stride, padding, dilation, (kh, kw), output_padding))
    canvas = np.zeros((n, cog * groups, padding[0] + oh + kh * dilation[0] + stride[0] * h,
                       padding[1] + ow + kw * dilation[1] + stride[1] * wd))
    cig = cin // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                y0, x0 = i * dilation[0], j * dilation[1]
                canvas[:, g * cog:(g + 1) * cog, y0:y0 + stride[0] * h:stride[0],
                       x0:x0 + stride[1] * wd:stride[1]] += np.einsum(
                    "nchw,co->nohw", x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig, :, i, j])
    out = canvas[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow]
    return out if b is None else out + b[None, :, None, None]


def _conv(**kw):
    return lambda x, w, b=None: F.conv2d(x, w, b, **kw)


def _conv_ref(stride=1, padding=0, dilation=1, groups=1):
    two = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    pads = tuple(padding) if isinstance(padding, tuple) and len(padding) == 4 else two(padding) * 2
    return lambda x, w, b=None: conv2d_ref(x, w, b, two(stride), pads, two(dilation), groups)


def _transpose(**kw):
    return lambda x, w, b=None: F.conv_transpose2d(x, w, b, **kw)


def _transpose_ref(stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    two = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return lambda x, w, b=None: conv_transpose2d_ref(
        x, w, b, two(stride), two(padding), two(output_padding), groups, two(dilation))


CONV = [  # tag, input, weight, attrs (for the op and the reference alike)
    ("basic", (1, 2, 5, 5), (3, 2, 3, 3), {}),
    ("rows_of_16", (1, 2, 3, 16), (3, 2, 3, 3), {"padding": 1}),  # row-aligned direct tiles
    ("pad1", (2, 2, 4, 4), (2, 2, 3, 3), {"padding": 1}),
    ("stride2", (1, 2, 7, 6), (2, 2, 3, 3), {"stride": 2, "padding": 1}),
    ("asymmetric", (1, 2, 6, 7), (2, 2, 2, 3), {"stride": (2, 1), "padding": (1, 0)}),
    ("dilation", (1, 1, 7, 7), (2, 1, 3, 3), {"dilation": 2, "padding": 1}),
    ("groups", (1, 4, 5, 5), (4, 2, 3, 3), {"groups": 2, "padding": 1}),
    ("depthwise", (1, 3, 5, 5), (3, 1, 3, 3), {"groups": 3}),
    ("pointwise", (2, 3, 4, 4), (4, 3, 1, 1), {}),
    ("kernel_equals_input", (1, 2, 3, 3), (2, 2, 3, 3), {}),
]
CASES = []
for tag, xs, ws, kw in CONV:
    args = (Arg(xs), Arg(ws), Arg((ws[0],)))
    CASES.append(OpCase(f"conv2d_{tag}", _conv(**kw), _conv_ref(**kw), args))
CASES += [
    OpCase("conv2d_no_bias", _conv(padding=1), _conv_ref(padding=1),
           (Arg((1, 2, 4, 4)), Arg((2, 2, 3, 3)))),
    OpCase("conv2d_same", _conv(padding="same"), _conv_ref(padding=(1, 1, 1, 1)),
           (Arg((1, 2, 5, 5)), Arg((2, 2, 3, 3)))),
    OpCase("conv2d_same_even_kernel", _conv(padding="same"), _conv_ref(padding=(0, 1, 1, 2)),
           (Arg((1, 1, 5, 5)), Arg((2, 1, 2, 4)))),
    OpCase("conv2d_valid", _conv(padding="valid"), _conv_ref(),
           (Arg((1, 1, 4, 4)), Arg((1, 1, 2, 2)))),
    OpCase("conv2d_unbatched", _conv(padding=1), lambda x, w, b: _conv_ref(padding=1)(
        x[None], w, b)[0], (Arg((2, 4, 4)), Arg((2, 2, 3, 3)), Arg((2,)))),
    OpCase("conv2d_noncontiguous", _conv(padding=1), _conv_ref(padding=1),
           (Arg((1, 2, 4, 5), layout="strided"), Arg((2, 2, 3, 3), layout="transposed"))),
    OpCase("conv2d_empty_batch", _conv(padding=1), _conv_ref(padding=1),
           (Arg((0, 2, 4, 4)), Arg((3, 2, 3, 3)), Arg((3,)))),
    # 3x3 stride-1 convs with >= 64 channels and >= 2500 output pixels run Winograd F(2x2, 3x3)
    # (conv_winograd.cpp); smaller ones the direct kernels (conv_direct.cpp). Odd sizes test
    # partial output tiles. Forward only (gradient rows use small inputs).
    OpCase("conv2d_winograd_large", _conv(padding=1), _conv_ref(padding=1),
           (Arg((1, 64, 52, 52)), Arg((64, 64, 3, 3)), Arg((64,))), grad=False,
           rtol=1e-4, atol=1e-4),
    OpCase("conv2d_winograd", _conv(padding=1), _conv_ref(padding=1),
           (Arg((2, 16, 9, 7)), Arg((16, 16, 3, 3)), Arg((16,))), grad=False, rtol=1e-4, atol=1e-4),
    OpCase("conv2d_winograd_valid_groups", _conv(groups=2), _conv_ref(groups=2),
           (Arg((1, 32, 8, 11)), Arg((32, 16, 3, 3)), Arg((32,))), grad=False,
           rtol=1e-4, atol=1e-4),
    OpCase("conv2d_shifted_taps", _conv(padding=(2, 1)), _conv_ref(padding=(2, 1)),
           (Arg((2, 16, 7, 6)), Arg((8, 16, 5, 3)), Arg((8,))), grad=False, rtol=1e-4, atol=1e-4),
    OpCase("conv2d_shifted_taps_dilated", _conv(padding=2, dilation=2),
           _conv_ref(padding=2, dilation=2),
           (Arg((1, 16, 6, 6)), Arg((4, 16, 3, 3)), Arg((4,))), grad=False, rtol=1e-4, atol=1e-4),
    # big enough for several threads and pixel tiles; forward only
    OpCase("conv2d_large", _conv(padding=1), _conv_ref(padding=1),
           (Arg((4, 16, 40, 40)), Arg((8, 16, 3, 3)), Arg((8,))), grad=False,
           rtol=1e-4, atol=1e-4),
]

TRANSPOSE = [
    ("basic", (1, 2, 3, 3), (2, 3, 3, 3), {}),
    ("stride2", (1, 2, 3, 4), (2, 2, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ("groups", (1, 4, 3, 3), (4, 1, 2, 2), {"groups": 2, "stride": 2}),
    ("dilation", (1, 2, 3, 3), (2, 2, 2, 2), {"dilation": 2, "padding": 1}),
]
for tag, xs, ws, kw in TRANSPOSE:
    groups = kw.get("groups", 1)
    args = (Arg(xs), Arg(ws), Arg((ws[1] * groups,)))
    CASES.append(OpCase(f"conv_transpose2d_{tag}", _transpose(**kw), _transpose_ref(**kw), args))
CASES.append(OpCase("conv_transpose2d_no_bias", _transpose(stride=2), _transpose_ref(stride=2),
                    (Arg((1, 2, 2, 3)), Arg((2, 2, 3, 3)))))



def adjoint(forward, shape, *fixed):
    """The adjoint of the linear map v -> forward(v, *fixed) (v of `shape`) as a function of
    the output gradient: its Jacobian, built column by column, transposed."""

    def apply_adjoint(g):
        n = int(np.prod(shape))
        columns = [np.asarray(forward(np.eye(n)[i].reshape(shape), *fixed)).reshape(-1)
                   for i in range(n)]
        return (np.stack(columns) @ g.reshape(-1)).reshape(shape)

    return apply_adjoint


def _call_backward(op_name, **attrs):
    from unified.ops import OPS

    return lambda *xs: F.call_op(OPS[op_name], *xs, **attrs)


_BW = {"stride": (2, 1), "padding": (1, 0, 1, 0), "dilation": (1, 2), "groups": 2}
_BW_REF = dict(stride=(2, 1), padding=(1, 0, 1, 0), dilation=(1, 2), groups=2)
CASES += [  # the backward ops called directly: forward against the adjoint, grads by their rules
    OpCase("conv2d_backward_input_direct",
           _call_backward("conv2d_backward_input", input_size=(5, 5), **_BW),
           lambda g, w: adjoint(lambda x, w: conv2d_ref(x, w, **_BW_REF), (1, 4, 5, 5), w)(g),
           (Arg((1, 2, 3, 3)), Arg((2, 2, 2, 2)))),
    OpCase("conv2d_backward_weight_direct",
           _call_backward("conv2d_backward_weight", weight_size=(2, 2), **_BW),
           lambda g, x: adjoint(lambda w, x: conv2d_ref(x, w, **_BW_REF), (2, 2, 2, 2), x)(g),
           (Arg((1, 2, 3, 3)), Arg((1, 4, 5, 5)))),
]


# ---- pooling ------------------------------------------------------------------------------
def _pool_size(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil else 0)) // s + 1
    return out - 1 if ceil and (out - 1) * s >= size + p else out


def max_pool2d_ref(x, k, s=None, p=0, d=1, ceil=False):
    s = s or k
    n, c, h, w = x.shape
    oh, ow = _pool_size(h, k, s, p, d, ceil), _pool_size(w, k, s, p, d, ceil)
    out, idx = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            cells = [(y, xx) for y in range(oy * s - p, oy * s - p + d * k, d)
                     for xx in range(ox * s - p, ox * s - p + d * k, d)
                     if 0 <= y < h and 0 <= xx < w]
            vals = np.stack([x[:, :, y, xx] for y, xx in cells], -1)
            best = vals.argmax(-1)
            out[:, :, oy, ox] = vals.max(-1)
            idx[:, :, oy, ox] = np.array([y * w + xx for y, xx in cells])[best]
    return out, idx


def avg_pool2d_ref(x, k, s=None, p=0, ceil=False, include_pad=True, divisor=None):
    s = s or k
    n, c, h, w = x.shape
    oh, ow = _pool_size(h, k, s, p, 1, ceil), _pool_size(w, k, s, p, 1, ceil)
    out = np.zeros((n, c, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * s - p, ox * s - p
            y1, x1 = min(y0 + k, h + p), min(x0 + k, w + p)
            padded = (y1 - y0) * (x1 - x0)
            y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
            count = divisor or (padded if include_pad else (y1 - y0) * (x1 - x0))
            out[:, :, oy, ox] = x[:, :, y0:y1, x0:x1].sum((2, 3)) / count
    return out


def adaptive_avg_pool2d_ref(x, size):
    n, c, h, w = x.shape
    out = np.zeros((n, c) + size)
    for oy in range(size[0]):
        for ox in range(size[1]):
            y0, y1 = oy * h // size[0], -(-(oy + 1) * h // size[0])
            x0, x1 = ox * w // size[1], -(-(ox + 1) * w // size[1])
            out[:, :, oy, ox] = x[:, :, y0:y1, x0:x1].mean((2, 3))
    return out


CASES += [
    OpCase("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: max_pool2d_ref(x, 2)[0],
           (Arg((1, 2, 4, 5), "distinct"),)),
    OpCase("max_pool2d_stride_pad", lambda x: F.max_pool2d(x, 3, 2, 1),
           lambda x: max_pool2d_ref(x, 3, 2, 1)[0], (Arg((1, 2, 5, 5), "distinct"),)),
    OpCase("max_pool2d_ceil_mode", lambda x: F.max_pool2d(x, 2, ceil_mode=True),
           lambda x: max_pool2d_ref(x, 2, ceil=True)[0], (Arg((1, 1, 5, 5), "distinct"),)),
    OpCase("max_pool2d_dilation", lambda x: F.max_pool2d(x, 2, 1, dilation=2),
           lambda x: max_pool2d_ref(x, 2, 1, d=2)[0], (Arg((1, 1, 5, 5), "distinct"),)),
    OpCase("max_pool2d_indices", lambda x: F.max_pool2d(x, 2, return_indices=True),
           lambda x: max_pool2d_ref(x, 2), (Arg((2, 2, 4, 4), "distinct"),)),
    OpCase("max_pool2d_unbatched_noncontiguous", lambda x: F.max_pool2d(x, 2),
           lambda x: max_pool2d_ref(x[None], 2)[0][0],
           (Arg((2, 4, 4), "distinct", layout="transposed"),)),
    OpCase("avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: avg_pool2d_ref(x, 2),
           (Arg((1, 2, 4, 5)),)),
    OpCase("avg_pool2d_pad_include", lambda x: F.avg_pool2d(x, 3, 2, 1),
           lambda x: avg_pool2d_ref(x, 3, 2, 1), (Arg((1, 2, 5, 5)),)),
    OpCase("avg_pool2d_pad_exclude", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
           lambda x: avg_pool2d_ref(x, 3, 2, 1, include_pad=False), (Arg((1, 1, 5, 6)),)),
    OpCase("avg_pool2d_ceil_mode", lambda x: F.avg_pool2d(x, 2, ceil_mode=True, padding=1),
           lambda x: avg_pool2d_ref(x, 2, p=1, ceil=True), (Arg((1, 1, 4, 5)),)),
    OpCase("avg_pool2d_divisor", lambda x: F.avg_pool2d(x, 2, divisor_override=3),
           lambda x: avg_pool2d_ref(x, 2, divisor=3), (Arg((1, 1, 4, 4)),)),
    OpCase("avg_pool2d_backward_direct",
           _call_backward("avg_pool2d_backward", kernel_size=(3, 3), stride=(2, 2),
                          padding=(1, 1), ceil_mode=0, count_include_pad=0, divisor_override=0,
                          input_size=(5, 4)),
           lambda g: adjoint(lambda x: avg_pool2d_ref(x, 3, 2, 1, include_pad=False),
                             (1, 2, 5, 4))(g), (Arg((1, 2, 3, 2)),)),
    OpCase("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
           lambda x: adaptive_avg_pool2d_ref(x, (2, 3)), (Arg((1, 2, 5, 7)),)),
    OpCase("adaptive_avg_pool2d_global", lambda x: F.adaptive_avg_pool2d(x, 1),
           lambda x: adaptive_avg_pool2d_ref(x, (1, 1)), (Arg((2, 3, 4, 4)),)),
    OpCase("adaptive_avg_pool2d_upsample", lambda x: F.adaptive_avg_pool2d(x, (4, None)),
           lambda x: adaptive_avg_pool2d_ref(x, (4, 3)), (Arg((1, 1, 3, 3)),)),
    OpCase("adaptive_avg_pool2d_backward_direct",
           _call_backward("adaptive_avg_pool2d_backward", input_size=(5, 7)),
           lambda g: adjoint(lambda x: adaptive_avg_pool2d_ref(x, (2, 3)), (1, 2, 5, 7))(g),
           (Arg((1, 2, 2, 3)),)),
]


# ---- interpolate --------------------------------------------------------------------------
def _taps(n_in, n_out, factor, bilinear, align):
    """Source indices and weights per output index, with PyTorch's float32 index math."""
    f32 = np.float32
    scale = f32(1.0 / factor) if factor else f32(n_in) / f32(n_out)
    taps = []
    for i in range(n_out):
        if not bilinear:
            src = min(int(np.floor(f32(i) * scale)), n_in - 1)
            taps.append(((src, 1.0),))
            continue
        if align:
            src = f32(i) * f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0)
        else:
            src = max(f32(0), (f32(i) + f32(0.5)) * scale - f32(0.5))
        lo = min(int(src), n_in - 1)
        hi = lo + 1 if lo < n_in - 1 else lo
        frac = float(src) - lo
        taps.append(((lo, 1.0 - frac), (hi, frac)))
    return taps


def interpolate_ref(x, size, mode="nearest", align=False, factor=(None, None)):
    bilinear = mode == "bilinear"
    ty = _taps(x.shape[2], size[0], factor[0], bilinear, align)
    tx = _taps(x.shape[3], size[1], factor[1], bilinear, align)
    out = np.zeros(x.shape[:2] + tuple(size))
    for oy, ys in enumerate(ty):
        for ox, xs in enumerate(tx):
            out[:, :, oy, ox] = sum(wy * wx * x[:, :, y, xx] for y, wy in ys for xx, wx in xs)
    return out


CASES += [
    OpCase("interpolate_nearest_scale", lambda x: F.interpolate(x, scale_factor=2),
           lambda x: interpolate_ref(x, (6, 8), factor=(2.0, 2.0)), (Arg((1, 2, 3, 4)),)),
    OpCase("interpolate_nearest_size", lambda x: F.interpolate(x, size=(5, 3)),
           lambda x: interpolate_ref(x, (5, 3)), (Arg((1, 2, 3, 4)),)),
    OpCase("interpolate_bilinear", lambda x: F.interpolate(x, size=(5, 7), mode="bilinear"),
           lambda x: interpolate_ref(x, (5, 7), "bilinear"), (Arg((1, 2, 3, 4)),)),
    OpCase("interpolate_bilinear_align_corners",
           lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True),
           lambda x: interpolate_ref(x, (5, 7), "bilinear", align=True), (Arg((1, 1, 3, 4)),)),
    OpCase("interpolate_bilinear_downscale",
           lambda x: F.interpolate(x, scale_factor=0.5, mode="bilinear"),
           lambda x: interpolate_ref(x, (3, 2), "bilinear", factor=(0.5, 0.5)),
           (Arg((1, 1, 6, 5)),)),
    OpCase("interpolate_noncontiguous", lambda x: F.interpolate(x, size=(4, 4), mode="bilinear"),
           lambda x: interpolate_ref(x, (4, 4), "bilinear"),
           (Arg((1, 2, 3, 3), layout="strided"),)),
    OpCase("interpolate_backward_direct",
           _call_backward("interpolate_backward", size=(5, 7), mode="bilinear", align_corners=0,
                          scale_factor=(0.0, 0.0), input_size=(3, 4)),
           lambda g: adjoint(lambda x: interpolate_ref(x, (5, 7), "bilinear"), (1, 1, 3, 4))(g),
           (Arg((1, 1, 5, 7)),)),
]
