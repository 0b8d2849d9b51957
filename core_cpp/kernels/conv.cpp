// 2-D convolution kernels (NCHW): conv2d, conv2d_backward_input, conv2d_backward_weight and
// conv_transpose2d. Non-pointwise convolutions run the direct kernels (conv_direct.cpp,
// conv_wgrad.cpp: phase planes + register tiles, no im2col), but for the forward of large 3x3
// stride-1 ones, which runs Winograd (conv_winograd.cpp); a pointwise one (1x1, stride 1, no
// padding) is one GEMM per image through gemm_f32 (gemm.h, Eigen): its input plane is already
// the im2col matrix. The weight gradient of convolutions with few output channels per group
// and output rows that are not whole vectors (depthwise) uses im2col over tiles of output
// pixels + gemm_f32.
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
#include <utility>
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
  // The output size must be the one these attributes give (padding is top, left, bottom,
  // right, or symmetric with two values): the edge runtime (mobile/) has no shape inference
  // to check a bundle's steps, and scratch buffers are sized from these numbers.
  const int64_t pad_bottom = padding.size() == 4 ? padding[2] : g->pad_top;
  const int64_t pad_right = padding.size() == 4 ? padding[3] : g->pad_left;
  constexpr int64_t kMaxAttr = int64_t{1} << 30;
  auto out_size = [](int64_t in, int64_t k, int64_t s, int64_t pads, int64_t d) {
    const int64_t room = in + pads - (d * (k - 1) + 1);
    return room < 0 ? int64_t{0} : room / s + 1;
  };
  if (std::max({g->stride_h, g->stride_w, g->dilation_h, g->dilation_w, g->pad_top,
                g->pad_left, pad_bottom, pad_right, g->kernel_h, g->kernel_w}) > kMaxAttr ||
      pad_bottom < 0 || pad_right < 0 ||
      out_size(g->height, g->kernel_h, g->stride_h, g->pad_top + pad_bottom, g->dilation_h) !=
          g->out_height ||
      out_size(g->width, g->kernel_w, g->stride_w, g->pad_left + pad_right, g->dilation_w) !=
          g->out_width)
    return make_status(StatusCode::kInvalidArgument, name, ": output ", out.shape_str(),
                       " does not follow from input ", in.shape_str(), ", weight ",
                       weight.shape_str(), ", stride ", g->stride_h, "x", g->stride_w,
                       ", padding ", g->pad_top, ",", g->pad_left, ",", pad_bottom, ",",
                       pad_right, ", dilation ", g->dilation_h, "x", g->dilation_w);
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

// out (N, O, OH, OW) = act(conv(in, weight) + bias); `act` may be none (conv2d).
void conv_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                  float* out, const FusedEpilogue& act) {
  if (conv_detail::winograd_applies(g))
    return conv_detail::conv_forward_winograd(g, in, weight, bias, out, act);
  if (!g.is_pointwise()) return conv_detail::conv_forward_direct(g, in, weight, bias, out, act);
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  parallel_for(tile_items(g), 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const TileItem it = tile_item(g, item);
      const float* image = in + (it.n * g.channels + it.group * g.group_channels()) * g.in_plane();
      float* dst = out + (it.n * g.out_channels + it.group * og) * plane + it.p0;
      const int64_t width = it.p1 - it.p0;
      for (int64_t o = 0; o < og; ++o)
        std::fill(dst + o * plane, dst + o * plane + width, bias ? bias[it.group * og + o] : 0.0f);
      gemm_f32(row_major(weight + it.group * og * kc, og, kc, kc),
               row_major(image + it.p0, kc, width, plane), row_major(dst, og, width, plane), true,
               false);
      if (act)
        for (int64_t o = 0; o < og; ++o) act.apply(dst + o * plane, width);
    }
  });
}

// grad_in (N, C, H, W) = conv2d's input gradient of grad (N, O, OH, OW).
void conv_backward_input(const ConvGeometry& g, const float* grad, const float* weight,
                         float* grad_in) {
  if (!g.is_pointwise()) return conv_detail::conv_backward_input_direct(g, grad, weight, grad_in);
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  const int64_t items = g.batch * g.groups;
  const bool split_items = items > 1;  // else one item at a time, each GEMM split by Eigen
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / g.groups, group = item % g.groups;
      float* image = grad_in + (n * g.channels + group * g.group_channels()) * g.in_plane();
      const float* src = grad + (n * g.out_channels + group * og) * plane;
      gemm_f32(row_major(weight + group * og * kc, og, kc, kc).transposed(),
               row_major(src, og, plane, plane), row_major(image, kc, plane, plane), false,
               !split_items);
    }
  };
  if (split_items)
    parallel_for(items, 1, run);
  else
    run(0, items);
}

// grad_w (O, C/groups, KH, KW) = sum over images of grad_n * im2col(in_n)^T. Threads sum
// their tiles into partial sums that are added up in thread order (deterministic).
void conv_backward_weight(const ConvGeometry& g, const float* grad, const float* in,
                          float* grad_w) {
  if (conv_detail::direct_weight_grad_applies(g))
    return conv_detail::conv_backward_weight_direct(g, grad, in, grad_w);
  const int64_t og = g.group_out_channels(), kc = g.col_rows(), plane = g.out_plane();
  const int64_t numel = g.out_channels * kc;
  std::vector<std::pair<int64_t, std::vector<float>>> partials;
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
    partials.emplace_back(begin, std::move(acc));
  });
  std::sort(partials.begin(), partials.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  std::fill(grad_w, grad_w + numel, 0.0f);
  for (const auto& part : partials)
    for (int64_t i = 0; i < numel; ++i) grad_w[i] += part.second[static_cast<size_t>(i)];
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

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
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
