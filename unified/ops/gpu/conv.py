"""GPU implementations of the conv family (unified/ops/conv.py, pool.py, interpolate.py,
fused_conv.py), NCHW float32:
  1. conv2d: im2col (one strided slice of the padded input per kernel tap) and one batched GEMM
     per group (cuBLAS through xp.matmul); fused_conv2d adds the activation (EW table).
  2. conv2d_backward_input is weight^T @ grad followed by col2im (each tap's slice added back
     into the padded input); conv_transpose2d is the same with x as the grad, plus bias.
  3. conv2d_backward_weight is grad @ im2col(input)^T summed over the batch.
  4. Pooling stacks the window taps (max: -inf padding, first maximum wins; avg: zero padding
     and pool.py's divisors); adaptive pooling and interpolate are separable: one (out x in)
     weight matrix per axis, applied as out = A_h @ x @ A_w^T (their adjoints transpose it).
Limits: im2col holds KH*KW copies of the input (no cuDNN: the same code runs on the NumPy test
device); dilation and groups are supported, 2-D only."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu, scatter_add
from unified.ops.gpu.elementwise import EW

_F32 = np.float32


def _span(out: int, stride: int) -> int:
    return stride * (out - 1) + 1


def _im2col(xp, x, kh, kw, out_hw, stride, padding, dilation):
    """(N, C, KH*KW, OH*OW) taps of x padded by (top, left, bottom, right)."""
    pt, pl, pb, pr = padding
    padded = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))) if any(padding) else x
    oh, ow = out_hw
    taps = []
    for i in range(kh):
        for j in range(kw):
            r, c = i * dilation[0], j * dilation[1]
            taps.append(padded[:, :, r:r + _span(oh, stride[0]):stride[0],
                               c:c + _span(ow, stride[1]):stride[1]])
    n, ch = x.shape[:2]
    return xp.stack(taps, axis=2).reshape(n, ch, kh * kw, oh * ow)


def _conv(xp, x, w, stride, padding, dilation, groups):
    n, o, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    oh = (x.shape[2] + padding[0] + padding[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] + padding[1] + padding[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    cols = _im2col(xp, x, kh, kw, (oh, ow), stride, padding, dilation)
    k = w.shape[1] * kh * kw
    cols = cols.reshape(n, groups, k, oh * ow)  # (N, G, Cg*KH*KW, P)
    wg = w.reshape(groups, o // groups, k)  # (G, Og, Cg*KH*KW)
    return xp.matmul(wg[None], cols).reshape(n, o, oh, ow)


@gpu("conv2d")
def conv2d(xp, x, w, b, stride, padding, dilation, groups):
    return _conv(xp, x, w, stride, padding, dilation, groups) + b.reshape(1, -1, 1, 1)


@gpu("fused_conv2d")
def fused_conv2d(xp, x, w, b, stride, padding, dilation, groups, activation, p0, p1):
    return EW[activation](xp, conv2d(xp, x, w, b, stride, padding, dilation, groups), p0, p1)


def _col2im(xp, cols, channels, input_size, kernel, stride, padding, dilation):
    """The adjoint of _im2col: cols (N, C, KH*KW, OH, OW) added into (N, C, H, W)."""
    n, oh, ow = cols.shape[0], cols.shape[3], cols.shape[4]
    pt, pl, pb, pr = padding
    rows, width = input_size[0] + pt + pb, input_size[1] + pl + pr
    padded = xp.zeros((n, channels, rows, width), _F32)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r, c = i * dilation[0], j * dilation[1]
            padded[:, :, r:r + _span(oh, stride[0]):stride[0],
                   c:c + _span(ow, stride[1]):stride[1]] += cols[:, :, i * kernel[1] + j]
    return xp.ascontiguousarray(padded[:, :, pt:pt + input_size[0], pl:pl + input_size[1]])


def _backward_input(xp, g, w, stride, padding, dilation, groups, input_size):
    n, o, oh, ow = g.shape
    cg, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    wg = w.reshape(groups, o // groups, cg * kh * kw)  # (G, Og, K)
    gg = g.reshape(n, groups, o // groups, oh * ow)  # (N, G, Og, P)
    cols = xp.matmul(xp.swapaxes(wg, 1, 2)[None], gg)  # (N, G, K, P)
    cols = cols.reshape(n, groups * cg, kh * kw, oh, ow)
    return _col2im(xp, cols, groups * cg, input_size, (kh, kw), stride, padding, dilation)


@gpu("conv2d_backward_input")
def conv2d_backward_input(xp, g, w, stride, padding, dilation, groups, input_size):
    return _backward_input(xp, g, w, stride, padding, dilation, groups, tuple(input_size))


@gpu("conv2d_backward_weight")
def conv2d_backward_weight(xp, g, x, stride, padding, dilation, groups, weight_size):
    n, o, oh, ow = g.shape
    kh, kw = weight_size
    cols = _im2col(xp, x, kh, kw, (oh, ow), stride, padding, dilation)
    cols = cols.reshape(n, groups, x.shape[1] // groups * kh * kw, oh * ow)  # (N, G, K, P)
    gg = g.reshape(n, groups, o // groups, oh * ow)  # (N, G, Og, P)
    gw = xp.matmul(gg, xp.swapaxes(cols, 2, 3)).sum(axis=0)  # (G, Og, K)
    return gw.reshape(o, x.shape[1] // groups, kh, kw)


@gpu("conv_transpose2d")
def conv_transpose2d(xp, x, w, b, stride, padding, output_padding, groups, dilation):
    """conv2d_backward_input with x as the grad: the output is the conv2d input whose
    conv2d (symmetric padding) has x's spatial size."""
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                 + dilation[i] * (w.shape[2 + i] - 1) + output_padding[i] + 1 for i in range(2))
    pads = (padding[0], padding[1], padding[0], padding[1])
    y = _backward_input(xp, x, w, stride, pads, dilation, groups, size)
    return y + b.reshape(1, -1, 1, 1)


# ---- pooling ----------------------------------------------------------------------------
def _windows(xp, x, kernel, stride, padding, dilation, out_hw, fill):
    """(N, C, KH*KW, OH, OW) window taps of x padded with `fill` (enough for ceil_mode)."""
    pads = []
    for i in range(2):
        need = (out_hw[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1
        pads.append((padding[i], max(0, need - x.shape[2 + i] - padding[i])))
    padded = xp.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=fill)
    taps = [padded[:, :, i * dilation[0]:i * dilation[0] + _span(out_hw[0], stride[0]):stride[0],
                   j * dilation[1]:j * dilation[1] + _span(out_hw[1], stride[1]):stride[1]]
            for i in range(kernel[0]) for j in range(kernel[1])]
    return xp.stack(taps, axis=2)


def _out_hw(x, kernel, stride, padding, dilation, ceil_mode):
    from unified.ops.pool import pool_out_size

    return tuple(pool_out_size("pool", x.shape[2 + i], kernel[i], stride[i], padding[i],
                               dilation[i], bool(ceil_mode), "") for i in range(2))


@gpu("max_pool2d")
def max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    out_hw = _out_hw(x, kernel_size, stride, padding, dilation, ceil_mode)
    taps = _windows(xp, x, kernel_size, stride, padding, dilation, out_hw, -np.inf)
    pick = xp.argmax(taps, axis=2)  # first maximum, as the kernel's strict comparison
    values = xp.take_along_axis(taps, pick[:, :, None], axis=2)[:, :, 0]
    rows = (xp.arange(out_hw[0]) * stride[0] - padding[0])[:, None]
    cols = (xp.arange(out_hw[1]) * stride[1] - padding[1])[None, :]
    tap_r, tap_c = pick // kernel_size[1] * dilation[0], pick % kernel_size[1] * dilation[1]
    index = (rows + tap_r) * x.shape[3] + (cols + tap_c)
    return xp.ascontiguousarray(values), index.astype(np.int64)


@gpu("max_pool2d_backward")
def max_pool2d_backward(xp, g, indices, input_size):
    n, c = g.shape[:2]
    plane = input_size[0] * input_size[1]
    out = xp.zeros(n * c * plane, _F32)
    base = (xp.arange(n * c, dtype=np.int64) * plane).reshape(n, c, 1, 1)
    scatter_add(xp, out, (indices + base).ravel(), g.ravel())
    return out.reshape(n, c, input_size[0], input_size[1])


def _avg_divisor(xp, x_hw, out_hw, kernel_size, stride, padding, count_include_pad,
                 divisor_override):
    from unified.ops.pool import _avg_divisors

    attrs = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
    (in_h, pad_h), (in_w, pad_w) = (_avg_divisors(attrs, x_hw[i], out_hw[i], i)
                                    for i in range(2))
    if divisor_override:
        divisor = np.full((out_hw[0], out_hw[1]), float(divisor_override))
    elif count_include_pad:
        divisor = np.outer(pad_h, pad_w)
    else:
        divisor = np.outer(in_h, in_w)
    return xp.asarray(divisor.astype(_F32))


@gpu("avg_pool2d")
def avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    out_hw = _out_hw(x, kernel_size, stride, padding, (1, 1), ceil_mode)
    taps = _windows(xp, x, kernel_size, stride, padding, (1, 1), out_hw, 0.0)
    divisor = _avg_divisor(xp, x.shape[2:], out_hw, kernel_size, stride, padding,
                           count_include_pad, divisor_override)
    return taps.sum(axis=2, dtype=_F32) / divisor


@gpu("avg_pool2d_backward")
def avg_pool2d_backward(xp, g, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, input_size):
    out_hw = tuple(g.shape[2:])
    divisor = _avg_divisor(xp, tuple(input_size), out_hw, kernel_size, stride, padding,
                           count_include_pad, divisor_override)
    share = g / divisor
    n, c = g.shape[:2]
    cols = xp.broadcast_to(share[:, :, None], (n, c, kernel_size[0] * kernel_size[1]) + out_hw)
    rows = [(padding[i], max(0, (out_hw[i] - 1) * stride[i] + kernel_size[i]
                             - input_size[i] - padding[i])) for i in range(2)]
    return _col2im(xp, cols, c, tuple(input_size), tuple(kernel_size), stride,
                   (rows[0][0], rows[1][0], rows[0][1], rows[1][1]), (1, 1))


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size): row i averages [floor(i*size/out), ceil((i+1)*size/out))."""
    a = np.zeros((out, size), np.float64)
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a.astype(_F32)


def _separable(xp, x, a_h, a_w):
    return xp.matmul(xp.matmul(xp.asarray(a_h), x), xp.asarray(a_w).T)


@gpu("adaptive_avg_pool2d")
def adaptive_avg_pool2d(xp, x, output_size):
    h, w = x.shape[2:]
    return _separable(xp, x, _adaptive_matrix(h, output_size[0]),
                      _adaptive_matrix(w, output_size[1]))


@gpu("adaptive_avg_pool2d_backward")
def adaptive_avg_pool2d_backward(xp, g, input_size):
    a_h = _adaptive_matrix(input_size[0], g.shape[2])
    a_w = _adaptive_matrix(input_size[1], g.shape[3])
    return _separable(xp, g, a_h.T, a_w.T)


# ---- interpolate --------------------------------------------------------------------------
def _interp_matrix(size: int, out: int, scale_factor: float, mode: str,
                   align_corners) -> np.ndarray:
    """(out, size) weights from interpolate.py axis_taps (the kernel's taps and weights)."""
    from unified.ops.interpolate import axis_taps

    lo, hi, w_lo = axis_taps(size, out, scale_factor, mode == "bilinear", bool(align_corners))
    m = np.zeros((out, size), _F32)
    rows = np.arange(out)
    np.add.at(m, (rows, lo), w_lo)
    np.add.at(m, (rows, hi), (_F32(1.0) - w_lo) if mode == "bilinear" else 0.0)
    return m


@gpu("interpolate")
def interpolate(xp, x, size, mode, align_corners, scale_factor):
    h, w = x.shape[2:]
    return _separable(xp, x, _interp_matrix(h, size[0], scale_factor[0], mode, align_corners),
                      _interp_matrix(w, size[1], scale_factor[1], mode, align_corners))


@gpu("interpolate_backward")
def interpolate_backward(xp, g, size, mode, align_corners, scale_factor, input_size):
    m_h = _interp_matrix(input_size[0], size[0], scale_factor[0], mode, align_corners)
    m_w = _interp_matrix(input_size[1], size[1], scale_factor[1], mode, align_corners)
    return _separable(xp, g, m_h.T, m_w.T)


