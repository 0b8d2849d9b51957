// 2-D convolution kernels (NCHW): conv2d, conv2d_backward_input, conv2d_backward_weight and
// conv_transpose2d as im2col/col2im over tiles of output pixels + gemm_f32 (gemm.h, Eigen);
// conv2d's stride-1 forward uses Winograd (conv_winograd.cpp) or per-tap GEMMs instead.
// fused_conv2d (unified/ops/fused_conv.py, built by tracer/passes/fuse_conv.py) is conv2d's
// forward with a one-input activation applied by the fused engine's tile function (fused.h
// FusedEpilogue) to each output block right after it is written, while it is in cache: the
// same conv code and the same ew:: math, so it is bit-identical to conv2d then the activation.
// Pooling is in pool.cpp, resizing in interpolate.cpp; register_conv_kernels registers all.
// Ops: unified/ops/conv.py. Non-contiguous inputs are copied to contiguous buffers first.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "conv_geometry.h"
#include "unified/fused.h"
#include "unified/gemm.h"
#include "unified/registry.h"
#include "unified/strided_loop.h"
#include "unified/threading.h"

namespace unified {

void register_pool_kernels(KernelRegistry& reg);         // pool.cpp
void register_interpolate_kernels(KernelRegistry& reg);  // interpolate.cpp

namespace {

using conv_detail::ConvGeometry;
using conv_detail::kTileFloats;

int64_t attr_at(const std::vector<int64_t>& v, size_t i, int64_t fallback) {
  return i < v.size() ? v[i] : (v.empty() ? fallback : v.back());
}

// Reads stride/padding/dilation/groups; `in` is the conv input (N, C, H, W), `weight` the
// conv weight (O, C / groups, KH, KW) and `out` the conv output (N, O, OH, OW).
Status make_geometry(const char* name, const TensorView& in, const TensorView& weight,
                     const TensorView& out, const Attrs& attrs, ConvGeometry* g) {
  if (in.ndim != 4 || weight.ndim != 4 || out.ndim != 4)
    return make_status(StatusCode::kInvalidArgument, name, ": expected 4-D tensors, got ",
                       in.shape_str(), ", weight ", weight.shape_str(), ", ", out.shape_str());
  auto stride = attrs.get_ints("stride"), padding = attrs.get_ints("padding"),
       dilation = attrs.get_ints("dilation");
  *g = ConvGeometry{in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[1],
                    out.shape[2], out.shape[3], weight.shape[2], weight.shape[3],
                    attr_at(stride, 0, 1), attr_at(stride, 1, 1), attr_at(padding, 0, 0),
                    attr_at(padding, 1, 0), attr_at(dilation, 0, 1), attr_at(dilation, 1, 1),
                    attrs.get_int("groups", 1)};
  if (g->groups < 1 || g->channels % g->groups || g->out_channels % g->groups ||
      weight.shape[0] != g->out_channels || weight.shape[1] * g->groups != g->channels ||
      out.shape[0] != g->batch)
    return make_status(StatusCode::kInvalidArgument, name, ": shapes do not fit: input ",
                       in.shape_str(), ", weight ", weight.shape_str(), ", output ",
                       out.shape_str(), ", groups ", g->groups);
  if (g->stride_h < 1 || g->stride_w < 1 || g->dilation_h < 1 || g->dilation_w < 1 ||
      g->pad_top < 0 || g->pad_left < 0)
    return make_status(StatusCode::kInvalidArgument, name, ": stride ", g->stride_h, "x",
                       g->stride_w, " and dilation ", g->dilation_h, "x", g->dilation_w,
                       " must be >= 1 and padding ", g->pad_top, ",", g->pad_left, " >= 0");
  return Status::ok();
}

// A float32 tensor as contiguous memory: its own data, or a copy in `buffer`.
const float* contiguous_data(const TensorView& v, std::vector<float>* buffer) {
  if (v.is_contiguous()) return v.ptr<float>();
  buffer->resize(static_cast<size_t>(v.numel()));
  TensorView dst = contiguous_view(buffer->data(), DType::kFloat32, v.ndim, v.shape);
  unary_loop<float, float>(dst, v, [](float x) { return x; });
  return buffer->data();
}

// Walks the im2col matrix of one image and group for output pixels [p0, p1): calls
// run(col_offset, plane_offset, n) for each run of n pixels that reads input pixels
// plane_offset + i * stride_w (i < n) into col_offset + i, and zero(col_offset, n) for padding.
template <class Run, class Zero>
void walk_columns(const ConvGeometry& g, int64_t row, int64_t p0, int64_t p1, Run run, Zero zero) {
  const int64_t kj = row % g.kernel_w, ki = (row / g.kernel_w) % g.kernel_h;
  const int64_t c = row / (g.kernel_w * g.kernel_h);
  const int64_t tile = p1 - p0;
  for (int64_t p = p0; p < p1;) {
    const int64_t oy = p / g.out_width, ox0 = p % g.out_width;
    const int64_t ox1 = std::min(g.out_width, ox0 + (p1 - p));
    const int64_t col = row * tile + (p - p0);
    const int64_t iy = oy * g.stride_h - g.pad_top + ki * g.dilation_h;
    if (iy < 0 || iy >= g.height) {
      zero(col, ox1 - ox0);
    } else {
      // input x = ox * stride - pad + kj * dilation is inside [0, W) for ox in [lo, hi)
      const int64_t shift = kj * g.dilation_w - g.pad_left;
      int64_t lo = shift >= 0 ? 0 : (-shift + g.stride_w - 1) / g.stride_w;
      int64_t hi = g.width - shift <= 0 ? 0 : (g.width - shift + g.stride_w - 1) / g.stride_w;
      lo = std::min(std::max(lo, ox0), ox1);
      hi = std::max(std::min(hi, ox1), lo);
      if (lo > ox0) zero(col, lo - ox0);
      if (hi > lo) run(col + (lo - ox0), c * g.in_plane() + iy * g.width + lo * g.stride_w + shift, hi - lo);
      if (ox1 > hi) zero(col + (hi - ox0), ox1 - hi);
    }
    p += ox1 - ox0;
  }
}

// col (col_rows x (p1 - p0), row-major) = im2col of `image` (this group's C/groups planes).
void im2col(const ConvGeometry& g, const float* image, int64_t p0, int64_t p1, float* col) {
  const int64_t sw = g.stride_w;
  for (int64_t row = 0; row < g.col_rows(); ++row)
    walk_columns(g, row, p0, p1,
                 [&](int64_t dst, int64_t src, int64_t n) {
                   if (sw == 1) {
                     std::memcpy(col + dst, image + src, static_cast<size_t>(n) * sizeof(float));
                   } else {
                     for (int64_t i = 0; i < n; ++i) col[dst + i] = image[src + i * sw];
                   }
                 },
                 [&](int64_t dst, int64_t n) { std::fill(col + dst, col + dst + n, 0.0f); });
}

// image += col2im(col): the adjoint of im2col (overlapping windows add up).
void col2im(const ConvGeometry& g, const float* col, int64_t p0, int64_t p1, float* image) {
  const int64_t sw = g.stride_w;
  for (int64_t row = 0; row < g.col_rows(); ++row)
    walk_columns(g, row, p0, p1,
                 [&](int64_t src, int64_t dst, int64_t n) {
                   for (int64_t i = 0; i < n; ++i) image[dst + i * sw] += col[src + i];
                 },
                 [](int64_t, int64_t) {});
}

// Work items: (image, group, tile of output pixels), flattened.
struct TileItem {
  int64_t n, group, p0, p1;
};
TileItem tile_item(const ConvGeometry& g, int64_t item) {
  const int64_t tiles = (g.out_plane() + g.tile() - 1) / g.tile();
  const int64_t t = item % tiles, ng = item / tiles;
  return {ng / g.groups, ng % g.groups, t * g.tile(), std::min(g.out_plane(), (t + 1) * g.tile())};
}
int64_t tile_items(const ConvGeometry& g) {
  return g.batch * g.groups * ((g.out_plane() + g.tile() - 1) / g.tile());
}

// Stride-1 convolution without im2col. On the input zero-padded to rows of width `wide`,
// output (y, x) of kernel tap (i, j) reads padded pixel (y + i * dh, x + j * dw): flat index
// y * wide + x plus a constant offset per tap. Computing the output on a `wide`-wide grid makes
// each tap one GEMM whose right operand is a strided view of the padded band (no copy);
// the taps accumulate, and the columns x >= OW are dropped when the band is written out.
struct ShiftedPlan {
  int64_t wide, rows_per_band, bands, band_rows_padded;
};

ShiftedPlan shifted_plan(const ConvGeometry& g) {
  ShiftedPlan s;
  s.wide = std::max(g.out_width + (g.kernel_w - 1) * g.dilation_w, g.pad_left + g.width);
  const int64_t per_row = s.wide * std::max(g.group_channels(), g.group_out_channels());
  s.rows_per_band = std::max<int64_t>(1, std::min(g.out_height, kTileFloats / std::max<int64_t>(per_row, 1)));
  s.bands = (g.out_height + s.rows_per_band - 1) / s.rows_per_band;
  s.band_rows_padded = s.rows_per_band + (g.kernel_h - 1) * g.dilation_h + 1;  // +1: overrun row
  return s;
}

bool use_shifted(const ConvGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && !g.is_pointwise() && g.group_channels() >= 16;
}

// band (cg, band_rows_padded, wide) = zero-padded input rows [y0 - pad_top, ...) of one group.
void pad_band(const ConvGeometry& g, const ShiftedPlan& s, const float* image, int64_t y0,
              float* band) {
  const int64_t rows = s.band_rows_padded, right = g.pad_left + g.width;
  for (int64_t c = 0; c < g.group_channels(); ++c)
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = band + (c * rows + r) * s.wide;
      const int64_t iy = y0 + r - g.pad_top;
      if (iy < 0 || iy >= g.height) {
        std::fill(dst, dst + s.wide, 0.0f);
        continue;
      }
      std::fill(dst, dst + g.pad_left, 0.0f);
      std::memcpy(dst + g.pad_left, image + (c * g.height + iy) * g.width,
                  static_cast<size_t>(g.width) * sizeof(float));
      std::fill(dst + right, dst + s.wide, 0.0f);
    }
}

// dst[i] = src[i] + bias (separate function so the compiler knows the rows do not alias)
void add_bias_row(const float* __restrict src, float bias, int64_t n, float* __restrict dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] + bias;
}

void conv_forward_shifted(const ConvGeometry& g, const float* in, const float* weight,
                          const float* bias, float* out, const FusedEpilogue& act) {
  const ShiftedPlan s = shifted_plan(g);
  const int64_t og = g.group_out_channels(), cg = g.group_channels();
  const int64_t taps = g.kernel_h * g.kernel_w, plane = g.out_plane();
  // weights regrouped per tap: (taps, O, C/groups), so each tap's matrix is contiguous
  std::vector<float> tap_weights(static_cast<size_t>(taps * g.out_channels * cg));
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t t = 0; t < taps; ++t)
        tap_weights[(t * g.out_channels + o) * cg + c] = weight[(o * cg + c) * taps + t];
  parallel_for(g.batch * g.groups * s.bands, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> band(static_cast<size_t>(cg * s.band_rows_padded * s.wide));
    std::vector<float> acc(static_cast<size_t>(og * s.rows_per_band * s.wide));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / (g.groups * s.bands), group = (item / s.bands) % g.groups;
      const int64_t y0 = (item % s.bands) * s.rows_per_band;
      const int64_t rows = std::min(g.out_height, y0 + s.rows_per_band) - y0;
      pad_band(g, s, in + (n * g.channels + group * cg) * g.in_plane(), y0, band.data());
      const MatrixRef result = row_major(acc.data(), og, rows * s.wide, rows * s.wide);
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t shift = (t / g.kernel_w) * g.dilation_h * s.wide + (t % g.kernel_w) * g.dilation_w;
        gemm_f32(row_major(tap_weights.data() + (t * g.out_channels + group * og) * cg, og, cg, cg),
                 row_major(band.data() + shift, cg, rows * s.wide, s.band_rows_padded * s.wide),
                 result, t > 0, false);
      }
      for (int64_t o = 0; o < og; ++o) {
        const float b = bias ? bias[group * og + o] : 0.0f;
        float* dst = out + (n * g.out_channels + group * og + o) * plane + y0 * g.out_width;
        for (int64_t y = 0; y < rows; ++y)
          add_bias_row(acc.data() + (o * rows + y) * s.wide, b, g.out_width, dst + y * g.out_width);
        if (act) act.apply(dst, rows * g.out_width);
      }
    }
  });
}

// out (N, O, OH, OW) = act(conv(in, weight) + bias); `act` may be none (conv2d).
void conv_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                  float* out, const FusedEpilogue& act) {
  if (conv_detail::winograd_applies(g))
    return conv_detail::conv_forward_winograd(g, in, weight, bias, out, act);
  if (use_shifted(g)) return conv_forward_shifted(g, in, weight, bias, out, act);
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  parallel_for(tile_items(g), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> col(g.is_pointwise() ? 0 : static_cast<size_t>(kc * g.tile()));
    for (int64_t item = begin; item < end; ++item) {
      const TileItem it = tile_item(g, item);
      const float* image = in + (it.n * g.channels + it.group * g.group_channels()) * g.in_plane();
      float* dst = out + (it.n * g.out_channels + it.group * og) * plane + it.p0;
      const int64_t width = it.p1 - it.p0;
      MatrixRef cols = row_major(image + it.p0, kc, width, plane);
      if (!g.is_pointwise()) {
        im2col(g, image, it.p0, it.p1, col.data());
        cols = row_major(col.data(), kc, width, width);
      }
      for (int64_t o = 0; o < og; ++o)
        std::fill(dst + o * plane, dst + o * plane + width, bias ? bias[it.group * og + o] : 0.0f);
      gemm_f32(row_major(weight + it.group * og * kc, og, kc, kc), cols,
               row_major(dst, og, width, plane), true, false);
      if (act)
        for (int64_t o = 0; o < og; ++o) act.apply(dst + o * plane, width);
    }
  });
}

// grad_in (N, C, H, W) = conv2d's input gradient of grad (N, O, OH, OW); zeroes grad_in first.
void conv_backward_input(const ConvGeometry& g, const float* grad, const float* weight,
                         float* grad_in) {
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  std::fill(grad_in, grad_in + g.batch * g.channels * g.in_plane(), 0.0f);
  const int64_t items = g.batch * g.groups;
  const bool split_items = items > 1;  // else one item at a time, each GEMM split by Eigen
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<float> col(g.is_pointwise() ? 0 : static_cast<size_t>(kc * g.tile()));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / g.groups, group = item % g.groups;
      float* image = grad_in + (n * g.channels + group * g.group_channels()) * g.in_plane();
      const float* src = grad + (n * g.out_channels + group * og) * plane;
      MatrixRef w_t = row_major(weight + group * og * kc, og, kc, kc).transposed();
      for (int64_t p0 = 0; p0 < plane; p0 += g.tile()) {
        const int64_t width = std::min(plane, p0 + g.tile()) - p0;
        if (g.is_pointwise()) {
          gemm_f32(w_t, row_major(src + p0, og, width, plane),
                   row_major(image + p0, kc, width, plane), true, !split_items);
          continue;
        }
        gemm_f32(w_t, row_major(src + p0, og, width, plane),
                 row_major(col.data(), kc, width, width), false, !split_items);
        col2im(g, col.data(), p0, p0 + width, image);
      }
    }
  };
  if (split_items)
    parallel_for(items, 1, run);
  else
    run(0, items);
}

// grad_w (O, C/groups, KH, KW) = sum over images of grad_n * im2col(in_n)^T.
void conv_backward_weight(const ConvGeometry& g, const float* grad, const float* in,
                          float* grad_w) {
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  const int64_t numel = g.out_channels * kc;
  std::fill(grad_w, grad_w + numel, 0.0f);
  std::mutex merge;
  parallel_for(tile_items(g), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> col(g.is_pointwise() ? 0 : static_cast<size_t>(kc * g.tile()));
    std::vector<float> acc(static_cast<size_t>(numel), 0.0f);
    for (int64_t item = begin; item < end; ++item) {
      const TileItem it = tile_item(g, item);
      const float* image = in + (it.n * g.channels + it.group * g.group_channels()) * g.in_plane();
      const float* src = grad + (it.n * g.out_channels + it.group * og) * plane + it.p0;
      const int64_t width = it.p1 - it.p0;
      MatrixRef cols = row_major(image + it.p0, kc, width, plane);
      if (!g.is_pointwise()) {
        im2col(g, image, it.p0, it.p1, col.data());
        cols = row_major(col.data(), kc, width, width);
      }
      gemm_f32(row_major(src, og, width, plane), cols.transposed(),
               row_major(acc.data() + it.group * og * kc, og, kc, kc), true, false);
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t i = 0; i < numel; ++i) grad_w[i] += acc[i];
  });
}

Status check_floats(const KernelArgs& args, const char* name, int num_inputs) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, 1));
  for (int i = 0; i < num_inputs; ++i)
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, name, "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, name, "output"));
  if (args.out(0).numel() > 0 && !args.out(0).is_contiguous())
    return make_status(StatusCode::kInvalidArgument, name, ": output must be contiguous");
  return Status::ok();
}

Status check_bias(const char* name, const TensorView& bias, int64_t channels) {
  if (bias.ndim != 1 || bias.shape[0] != channels)
    return make_status(StatusCode::kInvalidArgument, name, ": bias ", bias.shape_str(),
                       " must have shape (", channels, ",)");
  return Status::ok();
}

// conv2d(input (N, C, H, W), weight (O, C/groups, KH, KW), bias (O)) -> (N, O, OH, OW),
// then `act` (none for conv2d); `name` is the kernel's name for errors.
Status conv2d_forward(const char* name, const KernelArgs& args, const FusedEpilogue& act) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, name, 3));
  ConvGeometry g;
  UNIFIED_RETURN_IF_ERROR(
      make_geometry(name, args.in(0), args.in(1), args.out(0), *args.attrs, &g));
  UNIFIED_RETURN_IF_ERROR(check_bias(name, args.in(2), g.out_channels));
  std::vector<float> in_copy, w_copy, b_copy;
  conv_forward(g, contiguous_data(args.in(0), &in_copy), contiguous_data(args.in(1), &w_copy),
               contiguous_data(args.in(2), &b_copy), args.out(0).ptr<float>(), act);
  return Status::ok();
}

Status conv2d(const KernelArgs& args) { return conv2d_forward("conv2d", args, FusedEpilogue{}); }

// fused_conv2d(input, weight, bias) = activation(conv2d(...)); attrs: conv2d's, activation (a
// one-input op of _core.fusable_ops()), p0, p1 (its params, tracer/passes/fuse.py fuse_values).
Status fused_conv2d(const KernelArgs& args) {
  const std::string activation = args.attrs ? args.attrs->get_string("activation") : "";
  FusedEpilogue act{fused_unary_tile(activation)};
  if (!act)
    return make_status(StatusCode::kInvalidArgument, "fused_conv2d: activation '", activation,
                       "' is not a one-input op of the fused engine (_core.fusable_ops())");
  act.p0 = static_cast<float>(args.attrs->get_float("p0"));
  act.p1 = static_cast<float>(args.attrs->get_float("p1"));
  return conv2d_forward("fused_conv2d", args, act);
}

// conv2d_backward_input(grad (N, O, OH, OW), weight) -> (N, C, H, W).
Status conv2d_backward_input(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, "conv2d_backward_input", 2));
  ConvGeometry g;
  UNIFIED_RETURN_IF_ERROR(make_geometry("conv2d_backward_input", args.out(0), args.in(1),
                                        args.in(0), *args.attrs, &g));
  std::vector<float> grad_copy, w_copy;
  conv_backward_input(g, contiguous_data(args.in(0), &grad_copy),
                      contiguous_data(args.in(1), &w_copy), args.out(0).ptr<float>());
  return Status::ok();
}

// conv2d_backward_weight(grad (N, O, OH, OW), input (N, C, H, W)) -> (O, C/groups, KH, KW).
Status conv2d_backward_weight(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, "conv2d_backward_weight", 2));
  ConvGeometry g;
  UNIFIED_RETURN_IF_ERROR(make_geometry("conv2d_backward_weight", args.in(1), args.out(0),
                                        args.in(0), *args.attrs, &g));
  std::vector<float> grad_copy, in_copy;
  conv_backward_weight(g, contiguous_data(args.in(0), &grad_copy),
                       contiguous_data(args.in(1), &in_copy), args.out(0).ptr<float>());
  return Status::ok();
}

// conv_transpose2d(input (N, Cin, H, W), weight (Cin, Cout/groups, KH, KW), bias (Cout)):
// the input gradient of the conv2d from (N, Cout, OH, OW) to (N, Cin, H, W), plus bias.
Status conv_transpose2d(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, "conv_transpose2d", 3));
  const TensorView& out = args.out(0);
  ConvGeometry g;
  UNIFIED_RETURN_IF_ERROR(make_geometry("conv_transpose2d", out, args.in(1), args.in(0), *args.attrs, &g));
  UNIFIED_RETURN_IF_ERROR(check_bias("conv_transpose2d", args.in(2), out.shape[1]));
  std::vector<float> in_copy, w_copy, b_copy;
  const float* bias = contiguous_data(args.in(2), &b_copy);
  float* dst = out.ptr<float>();
  conv_backward_input(g, contiguous_data(args.in(0), &in_copy), contiguous_data(args.in(1), &w_copy), dst);
  const int64_t plane = g.in_plane();
  parallel_for(g.batch * g.channels, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(plane, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i)
                   for (int64_t p = 0; p < plane; ++p) dst[i * plane + p] += bias[i % g.channels];
               });
  return Status::ok();
}

}  // namespace

void register_conv_kernels(KernelRegistry& reg) {
  reg.add("conv2d", conv2d);
  reg.add("fused_conv2d", fused_conv2d);
  reg.add("conv2d_backward_input", conv2d_backward_input);
  reg.add("conv2d_backward_weight", conv2d_backward_weight);
  reg.add("conv_transpose2d", conv_transpose2d);
  register_pool_kernels(reg);
  register_interpolate_kernels(reg);
}

}  // namespace unified
