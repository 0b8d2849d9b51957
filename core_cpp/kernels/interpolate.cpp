// Resizing NCHW planes: interpolate (modes "nearest" and "bilinear", PyTorch's source-index
// rules incl. align_corners) and interpolate_backward (its adjoint: each output's gradient is
// spread over the inputs it read). Registered through register_conv_kernels (conv.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

// For one axis: output i reads input lo[i] with weight w_lo[i] and hi[i] with 1 - w_lo[i].
struct AxisTaps {
  std::vector<int64_t> lo, hi;
  std::vector<float> w_lo;
};

// PyTorch's rules: scale = 1 / scale_factor when given, else in / out; nearest takes
// floor(i * scale); bilinear takes (i + 0.5) * scale - 0.5 (clamped at 0), or
// i * (in - 1) / (out - 1) with align_corners.
AxisTaps axis_taps(int64_t in, int64_t out, double scale_factor, bool bilinear, bool align_corners) {
  AxisTaps t;
  t.lo.resize(out);
  t.hi.resize(out);
  t.w_lo.resize(out);
  const float scale = scale_factor > 0 ? static_cast<float>(1.0 / scale_factor)
                                       : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t i = 0; i < out; ++i) {
    if (!bilinear) {
      int64_t src = std::min(static_cast<int64_t>(std::floor(static_cast<float>(i) * scale)), in - 1);
      t.lo[i] = t.hi[i] = src;
      t.w_lo[i] = 1.0f;
      continue;
    }
    float src;
    if (align_corners) {
      src = out > 1 ? static_cast<float>(i) * static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
    } else {
      src = std::max(0.0f, (static_cast<float>(i) + 0.5f) * scale - 0.5f);
    }
    const int64_t lo = std::min(static_cast<int64_t>(src), in - 1);
    t.lo[i] = lo;
    t.hi[i] = lo < in - 1 ? lo + 1 : lo;
    t.w_lo[i] = 1.0f - (src - static_cast<float>(lo));
  }
  return t;
}

// forward: small = resize(in) written to out; backward: out (the input's shape) = adjoint(in).
Status resize_run(const KernelArgs& args, const char* name, bool forward) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, 1, 1));
  const TensorView &in = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(in, DType::kFloat32, name, "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kFloat32, name, "output"));
  if (in.ndim != 4 || out.ndim != 4 || in.shape[0] != out.shape[0] || in.shape[1] != out.shape[1] ||
      (out.numel() > 0 && !out.is_contiguous()))
    return make_status(StatusCode::kInvalidArgument, name, ": expected (N, C, H, W) tensors with "
                       "the same N and C and a contiguous output, got ", in.shape_str(), " and ",
                       out.shape_str());
  const std::string mode = args.attrs->get_string("mode", "nearest");
  if (mode != "nearest" && mode != "bilinear")
    return make_status(StatusCode::kInvalidArgument, name, ": mode '", mode,
                       "' is not supported (nearest, bilinear)");
  const bool bilinear = mode == "bilinear", align = args.attrs->get_int("align_corners", 0) != 0;
  const TensorView &src_side = forward ? in : out, &dst_side = forward ? out : in;
  const int64_t H = src_side.shape[2], W = src_side.shape[3];
  const int64_t OH = dst_side.shape[2], OW = dst_side.shape[3];
  if ((H == 0 || W == 0) && OH * OW > 0)
    return make_status(StatusCode::kInvalidArgument, name, ": cannot resize an empty plane ",
                       src_side.shape_str(), " to ", dst_side.shape_str());
  auto factors = args.attrs->get_floats("scale_factor");
  const AxisTaps ty = axis_taps(H, OH, factors.size() > 0 ? factors[0] : 0.0, bilinear, align);
  const AxisTaps tx = axis_taps(W, OW, factors.size() > 1 ? factors[1] : 0.0, bilinear, align);
  const int64_t planes = in.shape[0] * in.shape[1], out_plane = out.shape[2] * out.shape[3];
  parallel_for(planes, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(OH * OW, 1)),
               [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* src = in.ptr<float>() + (plane / in.shape[1]) * in.strides[0] +
                         (plane % in.shape[1]) * in.strides[1];
      const int64_t sy = in.strides[2], sx = in.strides[3];
      float* dst = out.ptr<float>() + plane * out_plane;
      if (!forward) std::fill(dst, dst + out_plane, 0.0f);
      for (int64_t oy = 0; oy < OH; ++oy) {
        const int64_t y0 = ty.lo[oy], y1 = ty.hi[oy];
        const float wy0 = ty.w_lo[oy], wy1 = 1.0f - wy0;
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t x0 = tx.lo[ox], x1 = tx.hi[ox];
          const float wx0 = tx.w_lo[ox], wx1 = 1.0f - wx0;
          if (forward && !bilinear) {
            dst[oy * OW + ox] = src[y0 * sy + x0 * sx];
          } else if (forward) {
            dst[oy * OW + ox] = wy0 * (wx0 * src[y0 * sy + x0 * sx] + wx1 * src[y0 * sy + x1 * sx]) +
                                wy1 * (wx0 * src[y1 * sy + x0 * sx] + wx1 * src[y1 * sy + x1 * sx]);
          } else {
            const float g = src[oy * sy + ox * sx];
            dst[y0 * W + x0] += wy0 * wx0 * g;
            dst[y0 * W + x1] += wy0 * wx1 * g;
            dst[y1 * W + x0] += wy1 * wx0 * g;
            dst[y1 * W + x1] += wy1 * wx1 * g;
          }
        }
      }
    }
  });
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status interpolate(const KernelArgs& a) { return resize_run(a, "interpolate", true); }
Status interpolate_backward(const KernelArgs& a) { return resize_run(a, "interpolate_backward", false); }

void register_interpolate_kernels(KernelRegistry& reg) {
  reg.add("interpolate", interpolate);
  reg.add("interpolate_backward", interpolate_backward);
}

}  // namespace unified
