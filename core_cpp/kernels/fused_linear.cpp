// fused_linear: y = act(x W^T + b) in one kernel call, built by tracer/passes/fuse_linear.py
// from a `linear` whose output dies at a one-input fusable activation (relu, gelu, ...).
// Contiguous x and y: the rows (or columns) of y are split into the same blocks as gemm_f32
// splits them for `linear` (matmul.cpp), and each thread fills its block with the bias, runs
// the same GEMM on it and applies the activation (the fused engine's tile function, fused.cpp:
// the same ew:: math as the unfused kernel) while the block is in its cache. Other layouts
// run matmul.cpp's `linear` kernel, then the activation. Either way the results are
// bit-identical to linear then the activation. OpDef: unified/ops/fused_linear.py.
// Attrs: activation (an op name of _core.fusable_ops() with one input), p0, p1 (its params).
// Also defines FusedEpilogue::apply (fused.h), which conv.cpp's fused_conv2d shares.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "unified/fused.h"
#include "unified/gemm.h"
#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

constexpr int64_t kTile = 512;  // floats per activation tile (2 KiB on the stack)

}  // namespace

Status linear(const KernelArgs& args);  // matmul.cpp

// d = act(d) over n contiguous floats, tile by tile (the tile functions take restrict pointers).
void FusedEpilogue::apply(float* data, int64_t n) const {
  alignas(64) float out[kTile];
  for (int64_t start = 0; start < n; start += kTile) {
    const int64_t m = std::min(kTile, n - start);
    tile(out, data + start, nullptr, m, p0, p1);
    std::memcpy(data + start, out, static_cast<size_t>(m) * sizeof(float));
  }
}

namespace {

struct Block {  // rows [r0, r1) x columns [c0, c1) of y
  int64_t r0, r1, c0, c1;
};

// One block of y = act(x W^T + b): bias, GEMM (accumulating, one thread), activation.
void run_block(const MatrixRef& xm, const MatrixRef& wt, const float* bias, int64_t b_stride,
               const MatrixRef& ym, const Block& k, const FusedEpilogue& act) {
  const int64_t width = k.c1 - k.c0;
  for (int64_t i = k.r0; i < k.r1; ++i)
    for (int64_t j = k.c0; j < k.c1; ++j) ym.data[i * ym.row_stride + j] = bias[j * b_stride];
  const MatrixRef a{xm.data + k.r0 * xm.row_stride, k.r1 - k.r0, xm.cols, xm.row_stride, 1};
  const MatrixRef b{wt.data + k.c0 * wt.col_stride, wt.rows, width, wt.row_stride,
                    wt.col_stride};
  const MatrixRef c{ym.data + k.r0 * ym.row_stride + k.c0, k.r1 - k.r0, width, ym.row_stride, 1};
  if (xm.cols > 0) gemm_f32(a, b, c, /*accumulate=*/true, /*parallel=*/false);
  for (int64_t i = k.r0; i < k.r1; ++i)
    act.apply(ym.data + i * ym.row_stride + k.c0, width);
}

// The contiguous case: gemm_f32's split of y (matmul.cpp), each block finished by one thread.
void fused_contiguous(const TensorView& x, const TensorView& w, const TensorView& b,
                      const TensorView& y, const FusedEpilogue& act) {
  const int64_t in = w.shape[1], out = w.shape[0], rows = y.numel() / out;
  const MatrixRef xm = row_major(x.ptr<float>(), rows, in, in);
  const MatrixRef wt =
      MatrixRef{w.ptr<float>(), out, in, w.strides[0], w.strides[1]}.transposed();
  const MatrixRef ym = row_major(y.ptr<float>(), rows, out, out);
  const float* bias = b.ptr<float>();
  const int threads = get_num_threads();
  if (threads <= 1 || rows * out * std::max<int64_t>(in, 1) < (int64_t{1} << 18)) {
    run_block(xm, wt, bias, b.strides[0], ym, {0, rows, 0, out}, act);
    return;
  }
  const bool split_rows = rows >= out;
  const int64_t n = split_rows ? rows : out;
  const int64_t block = std::max<int64_t>(16, (n / threads + 15) / 16 * 16);
  parallel_for((n + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t lo = i * block, hi = std::min(n, lo + block);
      const Block k = split_rows ? Block{lo, hi, 0, out} : Block{0, rows, lo, hi};
      run_block(xm, wt, bias, b.strides[0], ym, k, act);
    }
  });
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status fused_linear(const KernelArgs& args) {
  const std::string activation = args.attrs ? args.attrs->get_string("activation") : "";
  FusedTileFn tile = fused_unary_tile(activation);
  if (tile == nullptr)
    return make_status(StatusCode::kInvalidArgument, "fused_linear: activation '", activation,
                       "' is not a one-input op of the fused engine (_core.fusable_ops())");
  const FusedEpilogue act{tile, static_cast<float>(args.attrs->get_float("p0")),
                          static_cast<float>(args.attrs->get_float("p1"))};
  if (args.num_inputs == 3 && args.num_outputs == 1) {
    const TensorView &x = args.in(0), &w = args.in(1), &b = args.in(2), &y = args.out(0);
    // the shapes linear accepts (else it names the error), both contiguous, nothing empty
    bool fits = x.dtype == DType::kFloat32 && w.dtype == DType::kFloat32 &&
                b.dtype == DType::kFloat32 && y.dtype == DType::kFloat32 && x.ndim >= 1 &&
                w.ndim == 2 && b.ndim == 1 && y.ndim == x.ndim &&
                x.shape[x.ndim - 1] == w.shape[1] && b.shape[0] == w.shape[0] &&
                y.shape[y.ndim - 1] == w.shape[0] && x.is_contiguous() && y.is_contiguous() &&
                y.numel() > 0 && w.shape[1] > 0;
    for (int d = 0; fits && d < x.ndim - 1; ++d) fits = x.shape[d] == y.shape[d];
    if (fits) {
      fused_contiguous(x, w, b, y, act);
      return Status::ok();
    }
  }
  UNIFIED_RETURN_IF_ERROR(linear(args));  // checks arity, dtypes and shapes
  const TensorView& y = args.out(0);
  if (y.is_contiguous()) {
    float* data = y.ptr<float>();
    parallel_for(y.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
      act.apply(data + begin, end - begin);
    });
    return Status::ok();
  }
  // a strided output: element by element, with an odometer over the shape
  int64_t index[kMaxDims] = {0}, offset = 0;
  float* base = y.ptr<float>();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    float value = base[offset];
    tile(base + offset, &value, nullptr, 1, act.p0, act.p1);
    for (int d = y.ndim - 1; d >= 0; --d) {
      offset += y.strides[d];
      if (++index[d] < y.shape[d]) break;
      offset -= index[d] * y.strides[d];
      index[d] = 0;
    }
  }
  return Status::ok();
}

void register_fused_linear_kernels(KernelRegistry& reg) {
  reg.add("fused_linear", fused_linear);
}

}  // namespace unified
