// Matrix products: gemm_f32 (gemm.h, Eigen's GEMM over strided maps; the only file that
// includes Eigen's product code), the matmul kernel (PyTorch semantics: 1-D, 2-D and batched
// N-D with broadcast batch dims) and the linear kernel (x W^T + b, one GEMM over the rows of
// x). Ops: unified/ops/matmul.py; conv.cpp reuses gemm_f32.
// GCC 12 flags its own AVX-512 intrinsics inside Eigen's GEMM kernel (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "unified/copy_loop.h"
#include "unified/fused.h"
#include "unified/gemm.h"
#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <class M>
using StridedMap = Eigen::Map<M, Eigen::Unaligned, Eigen::OuterStride<>>;

enum class Layout { kRowMajor, kColMajor, kOther };

// How Eigen can read `m` without a copy: unit stride along rows or columns, the other stride
// non-negative. Strides of size-1 dims do not matter.
Layout layout_of(const MatrixRef& m) {
  if ((m.cols <= 1 || m.col_stride == 1) && (m.rows <= 1 || m.row_stride >= 0))
    return Layout::kRowMajor;
  if ((m.rows <= 1 || m.row_stride == 1) && (m.cols <= 1 || m.col_stride >= 0))
    return Layout::kColMajor;
  return Layout::kOther;
}

int64_t outer_stride(const MatrixRef& m, Layout layout) {
  if (layout == Layout::kRowMajor) return m.rows <= 1 ? std::max<int64_t>(m.cols, 1) : m.row_stride;
  return m.cols <= 1 ? std::max<int64_t>(m.rows, 1) : m.col_stride;
}

// A contiguous row-major copy of a matrix Eigen cannot map (negative or two non-unit strides).
MatrixRef packed_copy(const MatrixRef& m, std::vector<float>* buffer) {
  buffer->resize(static_cast<size_t>(std::max<int64_t>(m.rows * m.cols, 1)));
  float* dst = buffer->data();
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) dst[i * m.cols + j] = m.data[i * m.row_stride + j * m.col_stride];
  return row_major(dst, m.rows, m.cols, m.cols);
}

template <class MA, class MB>
void product(const MatrixRef& a, Layout la, const MatrixRef& b, Layout lb, const MatrixRef& c,
             bool accumulate) {
  StridedMap<const MA> ma(a.data, a.rows, a.cols, Eigen::OuterStride<>(outer_stride(a, la)));
  StridedMap<const MB> mb(b.data, b.rows, b.cols, Eigen::OuterStride<>(outer_stride(b, lb)));
  StridedMap<RowMatrix> mc(c.data, c.rows, c.cols,
                           Eigen::OuterStride<>(outer_stride(c, Layout::kRowMajor)));
  if (accumulate)
    mc.noalias() += ma * mb;
  else
    mc.noalias() = ma * mb;
}

// c (row-major) = a * b, with a and b mappable.
void product_row_major_out(const MatrixRef& a, const MatrixRef& b, const MatrixRef& c,
                           bool accumulate) {
  const Layout la = layout_of(a), lb = layout_of(b);
  if (la == Layout::kRowMajor && lb == Layout::kRowMajor)
    product<RowMatrix, RowMatrix>(a, la, b, lb, c, accumulate);
  else if (la == Layout::kRowMajor)
    product<RowMatrix, ColMatrix>(a, la, b, lb, c, accumulate);
  else if (lb == Layout::kRowMajor)
    product<ColMatrix, RowMatrix>(a, la, b, lb, c, accumulate);
  else
    product<ColMatrix, ColMatrix>(a, la, b, lb, c, accumulate);
}

#ifdef UNIFIED_COMPACT_GEMM
// The compact product (the edge runtime's size build with URT_COMPACT_GEMM, opt-in): plain
// loops over any strides
// instead of Eigen's GEMM, whose instantiations are about a third of a small trimmed runtime.
// c(i, j) is a dot product over k in order when b's columns are contiguous (linear's x W^T),
// else rows of b accumulate into c's row; sums may differ from Eigen's in the last bits.
void gemm_serial(const MatrixRef& a, const MatrixRef& b, const MatrixRef& c, bool accumulate) {
  for (int64_t i = 0; i < c.rows; ++i) {
    const float* ai = a.data + i * a.row_stride;
    float* ci = c.data + i * c.row_stride;
    if (b.row_stride == 1 || b.rows <= 1) {
      for (int64_t j = 0; j < c.cols; ++j) {
        const float* bj = b.data + j * b.col_stride;
        float sum = 0.0f;
        for (int64_t k = 0; k < a.cols; ++k) sum += ai[k * a.col_stride] * bj[k];
        ci[j * c.col_stride] = accumulate ? ci[j * c.col_stride] + sum : sum;
      }
      continue;
    }
    if (!accumulate)
      for (int64_t j = 0; j < c.cols; ++j) ci[j * c.col_stride] = 0.0f;
    for (int64_t k = 0; k < a.cols; ++k) {
      const float aik = ai[k * a.col_stride];
      const float* bk = b.data + k * b.row_stride;
      for (int64_t j = 0; j < c.cols; ++j) ci[j * c.col_stride] += aik * bk[j * b.col_stride];
    }
  }
}
#else
// One thread's product (Eigen runs single-threaded: gemm_f32 splits the work itself).
void gemm_serial(const MatrixRef& a, const MatrixRef& b, const MatrixRef& c, bool accumulate) {
  std::vector<float> a_copy, b_copy;
  MatrixRef ma = layout_of(a) == Layout::kOther ? packed_copy(a, &a_copy) : a;
  MatrixRef mb = layout_of(b) == Layout::kOther ? packed_copy(b, &b_copy) : b;
  const Layout lc = layout_of(c);
  if (lc == Layout::kRowMajor) {
    product_row_major_out(ma, mb, c, accumulate);
  } else if (lc == Layout::kColMajor) {  // c^T = b^T a^T, with c^T row-major
    product_row_major_out(mb.transposed(), ma.transposed(), c.transposed(), accumulate);
  } else {  // an output Eigen cannot map: compute into a buffer, then scatter
    std::vector<float> c_buffer(static_cast<size_t>(c.rows * c.cols));
    MatrixRef tmp = row_major(c_buffer.data(), c.rows, c.cols, c.cols);
    if (accumulate)
      for (int64_t i = 0; i < c.rows; ++i)
        for (int64_t j = 0; j < c.cols; ++j) tmp.data[i * c.cols + j] = c.data[i * c.row_stride + j * c.col_stride];
    product_row_major_out(ma, mb, tmp, accumulate);
    for (int64_t i = 0; i < c.rows; ++i)
      for (int64_t j = 0; j < c.cols; ++j) c.data[i * c.row_stride + j * c.col_stride] = tmp.data[i * c.cols + j];
  }
}
#endif  // UNIFIED_COMPACT_GEMM

MatrixRef row_block(const MatrixRef& m, int64_t begin, int64_t end) {
  return {m.data + begin * m.row_stride, end - begin, m.cols, m.row_stride, m.col_stride};
}

}  // namespace

// Splits c into one block of rows (or columns) per thread: measured faster than Eigen's own
// parallel GEMM, which shares packed panels between threads and scales worse on few cores.
void gemm_f32(const MatrixRef& a, const MatrixRef& b, const MatrixRef& c, bool accumulate,
              bool parallel) {
  if (c.rows == 0 || c.cols == 0) return;
#if defined(_OPENMP) && !defined(UNIFIED_COMPACT_GEMM)
  if (!omp_in_parallel()) Eigen::setNbThreads(1);
#endif
  const int threads = parallel ? get_num_threads() : 1;
  const int64_t work = c.rows * c.cols * std::max<int64_t>(a.cols, 1);
  if (threads <= 1 || work < (int64_t{1} << 18)) {
    gemm_serial(a, b, c, accumulate);
    return;
  }
  const bool split_rows = c.rows >= c.cols;
  const int64_t n = split_rows ? c.rows : c.cols;
  const int64_t block = std::max<int64_t>(16, (n / threads + 15) / 16 * 16);
  parallel_for((n + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t lo = i * block, hi = std::min(n, lo + block);
      if (split_rows)
        gemm_serial(row_block(a, lo, hi), b, row_block(c, lo, hi), accumulate);
      else
        gemm_serial(a, row_block(b.transposed(), lo, hi).transposed(),
                    row_block(c.transposed(), lo, hi).transposed(), accumulate);
    }
  });
}

namespace {

// matmul's operands as batched matrices: a 1-D `a` is one row, a 1-D `b` one column, and
// batch dims are aligned to the output's (stride 0 where broadcast).
struct MatmulPlan {
  int batch_ndim = 0;
  int64_t batch_shape[kMaxDims] = {0};
  int64_t batch_strides[3][kMaxDims] = {{0}};  // a, b, out
  MatrixRef a, b, c;                            // the matrices of batch index 0
};

MatrixRef operand_matrix(const TensorView& v, bool as_row) {
  const int nd = v.ndim;
  if (nd == 1)
    return as_row ? MatrixRef{v.ptr<float>(), 1, v.shape[0], v.shape[0], v.strides[0]}
                  : MatrixRef{v.ptr<float>(), v.shape[0], 1, v.strides[0], 1};
  return {v.ptr<float>(), v.shape[nd - 2], v.shape[nd - 1], v.strides[nd - 2], v.strides[nd - 1]};
}

Status make_matmul_plan(const TensorView& a, const TensorView& b, const TensorView& out,
                        MatmulPlan* p) {
  if (a.ndim < 1 || b.ndim < 1)
    return make_status(StatusCode::kInvalidArgument, "matmul: inputs must have at least one "
                       "dimension, got a ", a.shape_str(), " and b ", b.shape_str());
  p->a = operand_matrix(a, true);
  p->b = operand_matrix(b, false);
  const int a_mat = a.ndim == 1 ? 1 : 2, b_mat = b.ndim == 1 ? 1 : 2;
  const int out_mat = (a.ndim == 1 ? 0 : 1) + (b.ndim == 1 ? 0 : 1);
  p->batch_ndim = out.ndim - out_mat;
  if (p->a.cols != p->b.rows)
    return make_status(StatusCode::kInvalidArgument, "matmul: inner dimensions differ: a ",
                       a.shape_str(), ", b ", b.shape_str());
  const int64_t row_stride = a.ndim == 1 ? 0 : out.strides[out.ndim - out_mat];
  const int64_t col_stride = b.ndim == 1 ? 0 : out.strides[out.ndim - 1];
  p->c = {out.ptr<float>(), p->a.rows, p->b.cols, row_stride, col_stride};
  const TensorView* views[3] = {&a, &b, &out};
  const int mats[3] = {a_mat, b_mat, out_mat};
  for (int d = 0; d < p->batch_ndim; ++d) {
    p->batch_shape[d] = out.shape[d];
    for (int k = 0; k < 3; ++k) {
      const TensorView& v = *views[k];
      int vd = d - (p->batch_ndim - (v.ndim - mats[k]));
      bool broadcast = vd < 0 || v.shape[vd] == 1;
      if (!broadcast && v.shape[vd] != out.shape[d])
        return make_status(StatusCode::kInvalidArgument, "matmul: batch dims of a ",
                           a.shape_str(), " and b ", b.shape_str(), " do not broadcast to ",
                           out.shape_str());
      p->batch_strides[k][d] = broadcast ? 0 : v.strides[vd];
    }
  }
  if (p->c.rows == 1) p->c.row_stride = p->c.cols;  // keep size-1 dims out of layout checks
  if (p->c.cols == 1) p->c.col_stride = 1;
  return Status::ok();
}

// Element offsets of batch index `index` for a, b and out.
void batch_offsets(const MatmulPlan& p, int64_t index, int64_t offsets[3]) {
  offsets[0] = offsets[1] = offsets[2] = 0;
  for (int d = p.batch_ndim - 1; d >= 0; --d) {
    int64_t i = index % p.batch_shape[d];
    index /= p.batch_shape[d];
    for (int k = 0; k < 3; ++k) offsets[k] += i * p.batch_strides[k][d];
  }
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status matmul(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "matmul", 2, 1));
  for (int i = 0; i < 2; ++i)
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, "matmul", i ? "b" : "a"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "matmul", "output"));
  MatmulPlan p;
  UNIFIED_RETURN_IF_ERROR(make_matmul_plan(args.in(0), args.in(1), args.out(0), &p));
  int64_t batch = 1;
  for (int d = 0; d < p.batch_ndim; ++d) batch *= p.batch_shape[d];
  auto run = [&](int64_t begin, int64_t end, bool parallel) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t off[3];
      batch_offsets(p, i, off);
      MatrixRef a = p.a, b = p.b, c = p.c;
      a.data += off[0];
      b.data += off[1];
      c.data += off[2];
      gemm_f32(a, b, c, false, parallel);
    }
  };
  const int64_t flops = p.a.rows * p.a.cols * p.b.cols;
  if (batch == 1 || flops >= (int64_t{1} << 22)) {
    run(0, batch, true);  // few big products: Eigen splits each one
  } else {
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(flops, 1));
    parallel_for(batch, grain, [&](int64_t begin, int64_t end) { run(begin, end, false); });
  }
  return Status::ok();
}

namespace {
// The leading dims of `v` (all but the last) flattened into the rows of one matrix; false
// when their strides do not collapse into one row stride (the caller then copies).
bool as_row_matrix(const TensorView& v, MatrixRef* m) {
  const int last = v.ndim - 1;
  *m = {v.ptr<float>(), 1, v.shape[last], v.shape[last], v.strides[last]};
  int64_t next_stride = -1;  // the stride the next outer dim needs to merge with the rows
  for (int d = last - 1; d >= 0; --d) {
    m->rows *= v.shape[d];
    if (v.shape[d] == 1) continue;
    if (next_stride < 0)
      m->row_stride = v.strides[d];
    else if (v.strides[d] != next_stride)
      return false;
    next_stride = v.strides[d] * v.shape[d];
  }
  if (m->cols == 1) m->col_stride = 1;  // keep size-1 dims out of layout checks
  return true;
}

Status check_linear_shapes(const TensorView& x, const TensorView& w, const TensorView& b,
                           const TensorView& y) {
  bool ok = x.ndim >= 1 && w.ndim == 2 && b.ndim == 1 && y.ndim == x.ndim &&
            x.shape[x.ndim - 1] == w.shape[1] && b.shape[0] == w.shape[0] &&
            y.shape[y.ndim - 1] == w.shape[0];
  for (int d = 0; ok && d < x.ndim - 1; ++d) ok = x.shape[d] == y.shape[d];
  if (ok) return Status::ok();
  return make_status(StatusCode::kInvalidArgument, "linear: shapes do not fit: input ",
                     x.shape_str(), ", weight ", w.shape_str(), ", bias ", b.shape_str(),
                     ", output ", y.shape_str(), " (want input (..., in), weight (out, in), ",
                     "bias (out,), output (..., out))");
}
}  // namespace

// y = x W^T + b: y's rows are filled with b, then the GEMM accumulates x W^T onto them (Eigen's
// GEMM reads and writes c once either way). W^T is a transposed map of W, never a copy.
Status linear(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "linear", 3, 1));
  const char* roles[3] = {"input", "weight", "bias"};
  for (int i = 0; i < 3; ++i)
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, "linear", roles[i]));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "linear", "output"));
  const TensorView &x = args.in(0), &w = args.in(1), &b = args.in(2), &y = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_linear_shapes(x, w, b, y));
  if (y.numel() == 0) return Status::ok();
  std::vector<float> x_copy, y_buffer;
  MatrixRef xm, ym;
  if (!as_row_matrix(x, &xm)) {
    x_copy.resize(static_cast<size_t>(x.numel()));
    UNIFIED_RETURN_IF_ERROR(copy_view(contiguous_view(x_copy.data(), x.dtype, x.ndim, x.shape),
                                      x, "linear"));
    as_row_matrix(contiguous_view(x_copy.data(), x.dtype, x.ndim, x.shape), &xm);
  }
  const bool y_direct = as_row_matrix(y, &ym);
  if (!y_direct) {
    y_buffer.resize(static_cast<size_t>(y.numel()));
    ym = row_major(y_buffer.data(), ym.rows, ym.cols, ym.cols);
  }
  const float* bias = b.ptr<float>();
  for (int64_t i = 0; i < ym.rows; ++i) {
    float* row = ym.data + i * ym.row_stride;
    for (int64_t j = 0; j < ym.cols; ++j) row[j * ym.col_stride] = bias[j * b.strides[0]];
  }
  const MatrixRef wm{w.ptr<float>(), w.shape[0], w.shape[1], w.strides[0], w.strides[1]};
  if (xm.cols > 0) gemm_f32(xm, wm.transposed(), ym, /*accumulate=*/true);
  if (!y_direct)
    return copy_view(y, contiguous_view(y_buffer.data(), y.dtype, y.ndim, y.shape), "linear");
  return Status::ok();
}

void register_matmul_kernels(KernelRegistry& reg) {
  reg.add("matmul", matmul);
  reg.add("linear", linear);
  register_fused_linear_kernels(reg);  // kernels/fused_linear.cpp (reuses linear)
}

}  // namespace unified
