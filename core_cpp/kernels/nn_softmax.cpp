// softmax and log_softmax over any dim, and their backward ops, numerically stable (the max
// along the dim is subtracted first; NaN propagates). Three layouts: a contiguous last dim
// (Eigen's vectorized exp per line), a contiguous tensor reduced over an inner dim (chunks of
// columns, so rows are read contiguously), and any strided view (lines, nn_lines.h).
// Ops: unified/ops/nn.py; registered from register_nn_kernels (nn.cpp).
// GCC 12 flags its own AVX-512 intrinsics inside Eigen's packet math (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>

#include <Eigen/Core>

#include "nn_lines.h"
#include "unified/packet_math.h"
#include "unified/registry.h"

namespace unified {
namespace {

using namespace nn_detail;
using Array = Eigen::ArrayXf;
using ArrayMap = Eigen::Map<Array>;
using ConstArrayMap = Eigen::Map<const Array>;
constexpr int64_t kColumnChunk = 256;

// A contiguous (outer, n, inner) view of the operands when they are all C-contiguous.
struct Dense {
  bool ok = false;
  int64_t outer = 1, n = 1, inner = 1;
};

Dense dense_layout(const TensorView& ref, int axis, std::initializer_list<const TensorView*> all) {
  Dense d;
  d.ok = true;
  for (const TensorView* v : all) d.ok &= v->is_contiguous();
  for (int i = 0; i < ref.ndim; ++i) {
    if (i < axis) d.outer *= ref.shape[i];
    if (i > axis) d.inner *= ref.shape[i];
  }
  d.n = axis_len(ref, axis);
  return d;
}

// Calls fn(offset, width) for column chunks of every outer slice; offset is the element offset
// of the chunk's first row.
template <class Fn>
void for_each_column_chunk(const Dense& d, Fn fn) {
  const int64_t chunks = (d.inner + kColumnChunk - 1) / kColumnChunk;
  const int64_t work = std::max<int64_t>(d.n * kColumnChunk, 1);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / work);
  parallel_for(d.outer * chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / chunks, c0 = (task % chunks) * kColumnChunk;
      fn(o * d.n * d.inner + c0, std::min(kColumnChunk, d.inner - c0));
    }
  });
}

// ---- forward ------------------------------------------------------------------------------------

template <bool kLog>
void softmax_line_dense(const float* xp, float* yp, int64_t n) {
  if (n == 0) return;
  const float m = ConstArrayMap(xp, n).maxCoeff<Eigen::PropagateNaN>();
  const pk::Packet mp = pk::set1(m);
  auto shifted_exp = [&](const pk::Packet& x) { return pk::exp(Eigen::internal::psub(x, mp)); };
  if (kLog) {
    const float s = pk::sum(xp, nullptr, n, [&](const pk::Packet& x, const pk::Packet&) {
      return shifted_exp(x);
    });
    const float log_sum = std::log(s);
    for (int64_t i = 0; i < n; ++i) yp[i] = (xp[i] - m) - log_sum;
  } else {
    pk::map(xp, yp, n, shifted_exp);
    const float inv = 1.0f / pk::sum(yp, n);
    for (int64_t i = 0; i < n; ++i) yp[i] *= inv;
  }
}

template <bool kLog>
void softmax_columns(const float* x, float* y, const Dense& d) {
  for_each_column_chunk(d, [&](int64_t base, int64_t w) {
    Array m = Array::Constant(w, -INFINITY), s = Array::Zero(w);
    for (int64_t i = 0; i < d.n; ++i)
      m = m.max<Eigen::PropagateNaN>(ConstArrayMap(x + base + i * d.inner, w));
    Array e(w);  // aligned scratch: Eigen peels by the destination's address, so never exp
                 // straight into y (results would depend on where y sits)
    for (int64_t i = 0; i < d.n; ++i) {
      e = ConstArrayMap(x + base + i * d.inner, w) - m;
      e = e.exp();
      s += e;
      if (!kLog) ArrayMap(y + base + i * d.inner, w) = e;
    }
    s = kLog ? s.log().eval() : s.inverse().eval();
    for (int64_t i = 0; i < d.n; ++i) {
      ArrayMap out(y + base + i * d.inner, w);
      if (kLog) {
        out = (ConstArrayMap(x + base + i * d.inner, w) - m) - s;
      } else {
        out *= s;
      }
    }
  });
}

template <bool kLog>
void softmax_line_strided(const float* xp, float* yp, int64_t n, int64_t sx, int64_t sy) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n && m == m; ++i) {
    const float v = xp[i * sx];
    if (v > m || v != v) m = v;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(xp[i * sx] - m);
    if (!kLog) yp[i * sy] = e;
    sum += e;
  }
  if (kLog) {
    const float log_sum = static_cast<float>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) yp[i * sy] = (xp[i * sx] - m) - log_sum;
  } else {
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) yp[i * sy] *= inv;
  }
}

template <bool kLog>
Status softmax_forward(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, name, 1));
  const TensorView &x = args.in(0), &y = args.out(0);
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, name, x, &axis));
  const float* xp = x.ptr<float>();
  float* yp = y.ptr<float>();
  const Dense d = dense_layout(x, axis, {&x, &y});
  if (d.ok && d.inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(d.n, 1));
    parallel_for(d.outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        softmax_line_dense<kLog>(xp + o * d.n, yp + o * d.n, d.n);
    });
  } else if (d.ok) {
    softmax_columns<kLog>(xp, yp, d);
  } else {
    const auto lines = make_lines<2>({&y, &x}, axis);
    for_each_line(lines, d.n, [&](const int64_t* off) {
      softmax_line_strided<kLog>(xp + off[1], yp + off[0], d.n, lines.axis_stride[1],
                                 lines.axis_stride[0]);
    });
  }
  return Status::ok();
}

// ---- backward: inputs (grad, y), y the forward output -------------------------------------------
// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).

template <bool kLog>
void backward_line_dense(const float* gp, const float* yp, float* op, int64_t n) {
  if (kLog) {
    const float sg = pk::sum(gp, n);
    pk::map(yp, op, n, [](const pk::Packet& v) { return pk::exp(v); });
    for (int64_t i = 0; i < n; ++i) op[i] = gp[i] - op[i] * sg;
  } else {
    const float sgy = pk::sum(gp, yp, n, [](const pk::Packet& g, const pk::Packet& y) {
      return Eigen::internal::pmul(g, y);
    });
    for (int64_t i = 0; i < n; ++i) op[i] = yp[i] * (gp[i] - sgy);
  }
}

template <bool kLog>
void backward_columns(const float* g, const float* y, float* gx, const Dense& d) {
  for_each_column_chunk(d, [&](int64_t base, int64_t w) {
    Array s = Array::Zero(w);
    for (int64_t i = 0; i < d.n; ++i) {
      ConstArrayMap gr(g + base + i * d.inner, w);
      if (kLog) {
        s += gr;
      } else {
        s += gr * ConstArrayMap(y + base + i * d.inner, w);
      }
    }
    Array e(w);  // aligned scratch for exp (see softmax_columns)
    for (int64_t i = 0; i < d.n; ++i) {
      const int64_t at = base + i * d.inner;
      ConstArrayMap gr(g + at, w), yr(y + at, w);
      ArrayMap out(gx + at, w);
      if (kLog) {
        e = yr.exp();
        out = gr - e * s;
      } else {
        out = yr * (gr - s);
      }
    }
  });
}

template <bool kLog>
void backward_line_strided(const float* gp, const float* yp, float* op, int64_t n, int64_t sg,
                           int64_t sy, int64_t so) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += kLog ? gp[i * sg] : gp[i * sg] * yp[i * sy];
  const float s = static_cast<float>(acc);
  for (int64_t i = 0; i < n; ++i)
    op[i * so] = kLog ? gp[i * sg] - std::exp(yp[i * sy]) * s : yp[i * sy] * (gp[i * sg] - s);
}

template <bool kLog>
Status softmax_backward_impl(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, name, 2));
  const TensorView &gx = args.out(0), &g = args.in(0), &y = args.in(1);
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, name, g, &axis));
  const Dense d = dense_layout(g, axis, {&gx, &g, &y});
  const float *gp = g.ptr<float>(), *yp = y.ptr<float>();
  float* op = gx.ptr<float>();
  if (d.ok && d.inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(d.n, 1));
    parallel_for(d.outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        backward_line_dense<kLog>(gp + o * d.n, yp + o * d.n, op + o * d.n, d.n);
    });
    return Status::ok();
  }
  if (d.ok) {
    backward_columns<kLog>(gp, yp, op, d);
    return Status::ok();
  }
  const auto lines = make_lines<3>({&gx, &g, &y}, axis);
  for_each_line(lines, d.n, [&](const int64_t* off) {
    backward_line_strided<kLog>(gp + off[1], yp + off[2], op + off[0], d.n,
                                lines.axis_stride[1], lines.axis_stride[2], lines.axis_stride[0]);
  });
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status softmax(const KernelArgs& a) { return softmax_forward<false>(a, "softmax"); }
Status log_softmax(const KernelArgs& a) { return softmax_forward<true>(a, "log_softmax"); }
Status softmax_backward(const KernelArgs& a) {
  return softmax_backward_impl<false>(a, "softmax_backward");
}
Status log_softmax_backward(const KernelArgs& a) {
  return softmax_backward_impl<true>(a, "log_softmax_backward");
}

void register_nn_softmax_kernels(KernelRegistry& reg) {
  reg.add("softmax", softmax);
  reg.add("log_softmax", log_softmax);
  reg.add("softmax_backward", softmax_backward);
  reg.add("log_softmax_backward", log_softmax_backward);
}

}  // namespace unified
