// Pooling kernels over NCHW planes (any input strides; contiguous outputs): max_pool2d (with
// flat H*W indices, as PyTorch), avg_pool2d, adaptive_avg_pool2d and their backward ops.
// Registered through register_conv_kernels (conv.cpp). Ops: unified/ops/pool.py.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

struct PoolParams {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

int64_t attr_at(const std::vector<int64_t>& v, size_t i, int64_t fallback) {
  return i < v.size() ? v[i] : (v.empty() ? fallback : v.back());
}

Status read_params(const char* name, const Attrs& attrs, PoolParams* p) {
  auto k = attrs.get_ints("kernel_size"), s = attrs.get_ints("stride"),
       pad = attrs.get_ints("padding"), d = attrs.get_ints("dilation");
  *p = PoolParams{attr_at(k, 0, 1), attr_at(k, 1, 1), attr_at(s, 0, 1), attr_at(s, 1, 1),
                  attr_at(pad, 0, 0), attr_at(pad, 1, 0), attr_at(d, 0, 1), attr_at(d, 1, 1)};
  if (p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 || p->stride_w < 1 ||
      p->dilation_h < 1 || p->dilation_w < 1 || p->pad_h < 0 || p->pad_w < 0)
    return make_status(StatusCode::kInvalidArgument, name, ": kernel ", p->kernel_h, "x",
                       p->kernel_w, ", stride ", p->stride_h, "x", p->stride_w, ", dilation ",
                       p->dilation_h, "x", p->dilation_w, " must be >= 1 and padding ",
                       p->pad_h, "x", p->pad_w, " >= 0");
  return Status::ok();
}

// The pooled size must be the one the attributes give (PyTorch's rule, pool_out_size in
// unified/ops/pool.py): the edge runtime (mobile/) has no shape inference to check a bundle's
// steps, and the window loops run over these numbers.
Status check_pooled_size(const char* name, const PoolParams& p, const Attrs& attrs,
                         const TensorView& big, const TensorView& small) {
  constexpr int64_t kMaxAttr = int64_t{1} << 30;
  const bool ceil_mode = attrs.get_int("ceil_mode", 0) != 0;
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t k = axis ? p.kernel_w : p.kernel_h, s = axis ? p.stride_w : p.stride_h,
                  pad = axis ? p.pad_w : p.pad_h, d = axis ? p.dilation_w : p.dilation_h;
    const int64_t size = big.shape[2 + axis], out = small.shape[2 + axis];
    bool fits = std::max({k, s, d}) <= kMaxAttr && pad <= k / 2;
    if (fits) {
      const int64_t span = size + 2 * pad - d * (k - 1) - 1;
      int64_t want = span < 0 ? 0 : (span + (ceil_mode ? s - 1 : 0)) / s + 1;
      if (ceil_mode && want > 0 && (want - 1) * s >= size + pad) --want;
      fits = want == out;
    }
    if (!fits)
      return make_status(StatusCode::kInvalidArgument, name, ": pooled ", small.shape_str(),
                         " does not follow from ", big.shape_str(), " with kernel ", p.kernel_h,
                         "x", p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w, ", padding ",
                         p.pad_h, "x", p.pad_w, ", dilation ", p.dilation_h, "x", p.dilation_w,
                         ceil_mode ? " (ceil_mode)" : "");
  }
  return Status::ok();
}

// Checks (N, C, ...) tensors whose planes are paired; `small` is the pooled side.
Status check_planes(const char* name, const TensorView& big, const TensorView& small,
                    const TensorView& out) {
  if (big.ndim != 4 || small.ndim != 4 || big.shape[0] != small.shape[0] ||
      big.shape[1] != small.shape[1])
    return make_status(StatusCode::kInvalidArgument, name, ": expected (N, C, H, W) tensors "
                       "with the same N and C, got ", big.shape_str(), " and ", small.shape_str());
  if (out.numel() > 0 && !out.is_contiguous())
    return make_status(StatusCode::kInvalidArgument, name, ": output must be contiguous");
  return Status::ok();
}

// Element (y, x) of plane `plane` (= n * C + c) of a 4-D view.
struct PlaneReader {
  const TensorView& v;
  template <class T>
  const T* at(int64_t plane) const {
    return v.ptr<T>() + (plane / v.shape[1]) * v.strides[0] + (plane % v.shape[1]) * v.strides[1];
  }
  int64_t offset(int64_t y, int64_t x) const { return y * v.strides[2] + x * v.strides[3]; }
};

template <class F>  // fn(plane), called directly (no std::function: smaller and inlined)
void for_planes(int64_t planes, int64_t plane_work, const F& fn) {
  parallel_for(planes, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(plane_work, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) fn(i);
               });
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status max_pool2d(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "max_pool2d", 1, 2));
  const TensorView &in = args.in(0), &out = args.out(0), &idx = args.out(1);
  UNIFIED_RETURN_IF_ERROR(check_dtype(in, DType::kFloat32, "max_pool2d", "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(idx, DType::kInt64, "max_pool2d", "indices"));
  UNIFIED_RETURN_IF_ERROR(check_planes("max_pool2d", in, out, out));
  PoolParams p;
  UNIFIED_RETURN_IF_ERROR(read_params("max_pool2d", *args.attrs, &p));
  UNIFIED_RETURN_IF_ERROR(check_pooled_size("max_pool2d", p, *args.attrs, in, out));
  const int64_t H = in.shape[2], W = in.shape[3], OH = out.shape[2], OW = out.shape[3];
  PlaneReader reader{in};
  for_planes(in.shape[0] * in.shape[1], OH * OW * p.kernel_h * p.kernel_w, [&](int64_t plane) {
    const float* src = reader.at<float>(plane);
    float* dst = out.ptr<float>() + plane * OH * OW;
    int64_t* dst_idx = idx.ptr<int64_t>() + plane * OH * OW;
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_idx = -1;
        for (int64_t ki = 0; ki < p.kernel_h; ++ki) {
          const int64_t y = oy * p.stride_h - p.pad_h + ki * p.dilation_h;
          if (y < 0 || y >= H) continue;
          for (int64_t kj = 0; kj < p.kernel_w; ++kj) {
            const int64_t x = ox * p.stride_w - p.pad_w + kj * p.dilation_w;
            if (x < 0 || x >= W) continue;
            const float v = src[reader.offset(y, x)];
            if (best_idx < 0 || v > best || std::isnan(v)) {
              best = v;
              best_idx = y * W + x;
              if (std::isnan(v)) ki = p.kernel_h, kj = p.kernel_w;  // NaN wins: stop
            }
          }
        }
        dst[oy * OW + ox] = best;
        dst_idx[oy * OW + ox] = best_idx;
      }
  });
  return Status::ok();
}

// (grad (N, C, OH, OW), indices) -> (N, C, H, W): each grad goes to the input it came from.
Status max_pool2d_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "max_pool2d_backward", 2, 1));
  const TensorView &grad = args.in(0), &idx = args.in(1), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(grad, DType::kFloat32, "max_pool2d_backward", "grad"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(idx, DType::kInt64, "max_pool2d_backward", "indices"));
  UNIFIED_RETURN_IF_ERROR(check_planes("max_pool2d_backward", out, grad, out));
  for (int d = 0; d < 4; ++d)
    if (idx.ndim != 4 || idx.shape[d] != grad.shape[d])
      return make_status(StatusCode::kInvalidArgument, "max_pool2d_backward: indices ",
                         idx.shape_str(), " must have grad's shape ", grad.shape_str());
  const int64_t HW = out.shape[2] * out.shape[3], OH = grad.shape[2], OW = grad.shape[3];
  std::atomic<bool> failed{false};
  std::atomic<int64_t> bad{0};
  PlaneReader g_reader{grad}, i_reader{idx};
  for_planes(grad.shape[0] * grad.shape[1], OH * OW, [&](int64_t plane) {
    const float* g = g_reader.at<float>(plane);
    const int64_t* ix = i_reader.at<int64_t>(plane);
    float* dst = out.ptr<float>() + plane * HW;
    std::fill(dst, dst + HW, 0.0f);
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t i = ix[i_reader.offset(oy, ox)];
        if (i < 0 || i >= HW) {
          bad.store(i);
          failed.store(true);
          continue;
        }
        dst[i] += g[g_reader.offset(oy, ox)];
      }
  });
  if (failed.load())
    return make_status(StatusCode::kIndexError, "max_pool2d_backward: index ", bad.load(),
                       " is out of range for an input plane of ", HW, " elements");
  return Status::ok();
}

namespace {
// The avg_pool2d window of output (oy, ox): the clipped window and its divisor.
struct AvgWindow {
  int64_t y0, y1, x0, x1;
  float scale;
};

AvgWindow avg_window(const PoolParams& p, int64_t H, int64_t W, int64_t oy, int64_t ox,
                     bool count_include_pad, int64_t divisor_override) {
  int64_t y0 = oy * p.stride_h - p.pad_h, x0 = ox * p.stride_w - p.pad_w;
  int64_t y1 = std::min(y0 + p.kernel_h, H + p.pad_h), x1 = std::min(x0 + p.kernel_w, W + p.pad_w);
  const int64_t padded_count = (y1 - y0) * (x1 - x0);
  y0 = std::max<int64_t>(y0, 0);
  x0 = std::max<int64_t>(x0, 0);
  y1 = std::min(y1, H);
  x1 = std::min(x1, W);
  int64_t divisor = divisor_override > 0 ? divisor_override
                    : count_include_pad  ? padded_count
                                         : (y1 - y0) * (x1 - x0);
  return {y0, y1, x0, x1, divisor > 0 ? 1.0f / static_cast<float>(divisor) : 0.0f};
}

// Shared by avg_pool2d (forward=true: small = pool(big)) and its backward (big += scatter).
Status avg_pool_run(const KernelArgs& args, const char* name, bool forward) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, 1, 1));
  const TensorView &in = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(in, DType::kFloat32, name, "input"));
  const TensorView &big = forward ? in : out, &small = forward ? out : in;
  UNIFIED_RETURN_IF_ERROR(check_planes(name, big, small, out));
  PoolParams p;
  UNIFIED_RETURN_IF_ERROR(read_params(name, *args.attrs, &p));
  UNIFIED_RETURN_IF_ERROR(check_pooled_size(name, p, *args.attrs, big, small));
  const bool include_pad = args.attrs->get_int("count_include_pad", 1) != 0;
  const int64_t divisor_override = args.attrs->get_int("divisor_override", 0);
  const int64_t H = big.shape[2], W = big.shape[3], OH = small.shape[2], OW = small.shape[3];
  PlaneReader reader{in};
  for_planes(in.shape[0] * in.shape[1], OH * OW * p.kernel_h * p.kernel_w, [&](int64_t plane) {
    const float* src = reader.at<float>(plane);
    float* dst = out.ptr<float>() + plane * out.shape[2] * out.shape[3];
    if (!forward) std::fill(dst, dst + H * W, 0.0f);
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const AvgWindow w = avg_window(p, H, W, oy, ox, include_pad, divisor_override);
        if (forward) {
          float sum = 0.0f;
          for (int64_t y = w.y0; y < w.y1; ++y)
            for (int64_t x = w.x0; x < w.x1; ++x) sum += src[reader.offset(y, x)];
          dst[oy * OW + ox] = sum * w.scale;
        } else {
          const float g = src[reader.offset(oy, ox)] * w.scale;
          for (int64_t y = w.y0; y < w.y1; ++y)
            for (int64_t x = w.x0; x < w.x1; ++x) dst[y * W + x] += g;
        }
      }
  });
  return Status::ok();
}
}  // namespace

Status avg_pool2d(const KernelArgs& a) { return avg_pool_run(a, "avg_pool2d", true); }
Status avg_pool2d_backward(const KernelArgs& a) {
  return avg_pool_run(a, "avg_pool2d_backward", false);
}

namespace {
// x[0] + ... + x[n-1] as 8 interleaved partial sums added pairwise (a fixed order; the loop
// vectorizes where a single running sum would wait on each add).
float sum_run(const float* x, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += x[i + k];
  for (; i < n; ++i) part[i % 8] += x[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Adaptive average pooling: output cell i covers input [floor(i*H/OH), ceil((i+1)*H/OH)).
Status adaptive_run(const KernelArgs& args, const char* name, bool forward) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, 1, 1));
  const TensorView &in = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(in, DType::kFloat32, name, "input"));
  const TensorView &big = forward ? in : out, &small = forward ? out : in;
  UNIFIED_RETURN_IF_ERROR(check_planes(name, big, small, out));
  const int64_t H = big.shape[2], W = big.shape[3], OH = small.shape[2], OW = small.shape[3];
  PlaneReader reader{in};
  const bool unit_x = in.shape[3] == 1 || in.strides[3] == 1;
  // the windows' bounds, once for every plane (integer divisions cost more than a small sum)
  std::vector<int64_t> rows(static_cast<size_t>(2 * OH)), cols(static_cast<size_t>(2 * OW));
  for (int64_t oy = 0; oy < OH; ++oy)
    rows[2 * oy] = oy * H / OH, rows[2 * oy + 1] = ((oy + 1) * H + OH - 1) / OH;
  for (int64_t ox = 0; ox < OW; ++ox)
    cols[2 * ox] = ox * W / OW, cols[2 * ox + 1] = ((ox + 1) * W + OW - 1) / OW;
  for_planes(in.shape[0] * in.shape[1], H * W, [&](int64_t plane) {
    const float* src = reader.at<float>(plane);
    float* dst = out.ptr<float>() + plane * out.shape[2] * out.shape[3];
    if (!forward) std::fill(dst, dst + H * W, 0.0f);
    for (int64_t oy = 0; oy < OH; ++oy) {
      const int64_t y0 = rows[2 * oy], y1 = rows[2 * oy + 1];
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t x0 = cols[2 * ox], x1 = cols[2 * ox + 1];
        const float scale = 1.0f / static_cast<float>((y1 - y0) * (x1 - x0));
        if (forward) {
          float sum = 0.0f;
          if (unit_x && x1 - x0 == W && (y1 - y0 == 1 || in.strides[2] == W)) {  // one run
            sum = sum_run(src + reader.offset(y0, 0), (y1 - y0) * W);
          } else if (unit_x) {  // rows of the window are contiguous: 8 partial sums each
            for (int64_t y = y0; y < y1; ++y) sum += sum_run(src + reader.offset(y, x0), x1 - x0);
          } else {
            for (int64_t y = y0; y < y1; ++y)
              for (int64_t x = x0; x < x1; ++x) sum += src[reader.offset(y, x)];
          }
          dst[oy * OW + ox] = sum * scale;
        } else {
          const float g = src[reader.offset(oy, ox)] * scale;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x) dst[y * W + x] += g;
        }
      }
    }
  });
  return Status::ok();
}
}  // namespace

Status adaptive_avg_pool2d(const KernelArgs& a) { return adaptive_run(a, "adaptive_avg_pool2d", true); }
Status adaptive_avg_pool2d_backward(const KernelArgs& a) {
  return adaptive_run(a, "adaptive_avg_pool2d_backward", false);
}

void register_pool_kernels(KernelRegistry& reg) {
  reg.add("max_pool2d", max_pool2d);
  reg.add("max_pool2d_backward", max_pool2d_backward);
  reg.add("avg_pool2d", avg_pool2d);
  reg.add("avg_pool2d_backward", avg_pool2d_backward);
  reg.add("adaptive_avg_pool2d", adaptive_avg_pool2d);
  reg.add("adaptive_avg_pool2d_backward", adaptive_avg_pool2d_backward);
}

}  // namespace unified
