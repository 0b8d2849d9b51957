// nn kernels: softmax and log_softmax over any dim (and their backward ops), topk (and its
// backward scatter), one_hot. Inputs may be strided views: each kernel walks "lines" along the
// op's dim with every operand's own strides, lines split across threads. Normalization kernels
// (batch_norm, layer_norm) are in nn_norm.cpp; the op definitions in unified/ops/nn.py.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "unified/registry.h"
#include "unified/strided_loop.h"

namespace unified {

void register_nn_norm_kernels(KernelRegistry& reg);  // nn_norm.cpp

namespace {

// ---- lines along one dim ------------------------------------------------------------------

// The lines of N operands along `axis`. Every operand has operand 0's shape except along the
// axis (topk: input n, outputs k); lines are numbered row-major over the other dims.
template <int N>
struct Lines {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
  int64_t axis_stride[N];
  int64_t count = 1;
};

template <int N>
Lines<N> make_lines(const std::array<const TensorView*, N>& views, int axis) {
  Lines<N> lines;
  const TensorView& ref = *views[0];
  for (int k = 0; k < N; ++k) lines.axis_stride[k] = views[k]->ndim ? views[k]->strides[axis] : 0;
  for (int d = 0; d < ref.ndim; ++d) {
    if (d == axis) continue;
    lines.count *= ref.shape[d];
    if (ref.shape[d] == 1) continue;
    lines.shape[lines.ndim] = ref.shape[d];
    for (int k = 0; k < N; ++k) lines.strides[k][lines.ndim] = views[k]->strides[d];
    ++lines.ndim;
  }
  return lines;
}

template <int N>
void line_offsets(const Lines<N>& lines, int64_t line, int64_t* offsets) {
  for (int k = 0; k < N; ++k) offsets[k] = 0;
  for (int d = lines.ndim - 1; d >= 0; --d) {
    const int64_t i = line % lines.shape[d];
    line /= lines.shape[d];
    for (int k = 0; k < N; ++k) offsets[k] += i * lines.strides[k][d];
  }
}

// Calls fn(offsets) for every line; `line_len` sizes the per-thread grain.
template <int N, class Fn>
void for_each_line(const Lines<N>& lines, int64_t line_len, Fn fn) {
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(line_len, 1));
  parallel_for(lines.count, grain, [&](int64_t begin, int64_t end) {
    int64_t offsets[N];
    for (int64_t line = begin; line < end; ++line) {
      line_offsets(lines, line, offsets);
      fn(offsets);
    }
  });
}

int64_t axis_len(const TensorView& v, int axis) { return v.ndim ? v.shape[axis] : 1; }

// The first bad value found by any thread (kernels report it after the parallel loop).
struct FirstError {
  std::atomic<bool> set{false};
  int64_t position = 0;
  int64_t value = 0;
  void record(int64_t pos, int64_t val) {
    bool expected = false;
    if (set.compare_exchange_strong(expected, true)) {
      position = pos;
      value = val;
    }
  }
};

Status read_axis(const KernelArgs& args, const char* name, const TensorView& v, int* axis) {
  const int64_t dim = args.attrs->get_int("dim", -1);
  const int64_t rank = std::max<int64_t>(v.ndim, 1);
  if (dim < -rank || dim >= rank)
    return make_status(StatusCode::kIndexError, name, ": dim ", dim, " is out of range for shape ",
                       v.shape_str());
  *axis = static_cast<int>(dim < 0 ? dim + rank : dim);
  return Status::ok();
}

Status same_shape(const char* name, const TensorView& a, const TensorView& b, const char* what) {
  bool same = a.ndim == b.ndim;
  for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
  if (!same)
    return make_status(StatusCode::kInvalidArgument, name, ": ", what, " has shape ", b.shape_str(),
                       ", expected ", a.shape_str());
  return Status::ok();
}

Status check_floats(const KernelArgs& args, const char* name, int num_inputs) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, 1));
  for (int i = 0; i < num_inputs; ++i) {
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, name, "input"));
    UNIFIED_RETURN_IF_ERROR(same_shape(name, args.out(0), args.in(i), "input"));
  }
  return check_dtype(args.out(0), DType::kFloat32, name, "output");
}

// ---- softmax and log_softmax ----------------------------------------------------------------

// Numerically stable: subtract the line's max (NaN propagates) and sum exp in double.
template <bool kLog>
Status softmax_forward(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, name, 1));
  const TensorView &x = args.in(0), &y = args.out(0);
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, name, x, &axis));
  const auto lines = make_lines<2>({&y, &x}, axis);
  const int64_t n = axis_len(x, axis), sy = lines.axis_stride[0], sx = lines.axis_stride[1];
  for_each_line(lines, n, [&](const int64_t* off) {
    float* yp = y.ptr<float>() + off[0];
    const float* xp = x.ptr<float>() + off[1];
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      const float v = xp[i * sx];
      if (v > m || v != v) m = v;
      if (m != m) break;
    }
    double sum = 0.0;
    if (kLog) {
      for (int64_t i = 0; i < n; ++i) sum += std::exp(xp[i * sx] - m);
      const float log_sum = static_cast<float>(std::log(sum));
      for (int64_t i = 0; i < n; ++i) yp[i * sy] = (xp[i * sx] - m) - log_sum;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(xp[i * sx] - m);
        yp[i * sy] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < n; ++i) yp[i * sy] *= inv;
    }
  });
  return Status::ok();
}

// Inputs (grad, y) with y the forward output: softmax gives y * (g - sum(g * y)), log_softmax
// gives g - exp(y) * sum(g).
template <bool kLog>
Status softmax_backward_impl(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_floats(args, name, 2));
  const TensorView &gx = args.out(0), &g = args.in(0), &y = args.in(1);
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, name, g, &axis));
  const auto lines = make_lines<3>({&gx, &g, &y}, axis);
  const int64_t n = axis_len(g, axis);
  const int64_t so = lines.axis_stride[0], sg = lines.axis_stride[1], sy = lines.axis_stride[2];
  for_each_line(lines, n, [&](const int64_t* off) {
    float* op = gx.ptr<float>() + off[0];
    const float* gp = g.ptr<float>() + off[1];
    const float* yp = y.ptr<float>() + off[2];
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += kLog ? gp[i * sg] : gp[i * sg] * yp[i * sy];
    const float s = static_cast<float>(acc);
    for (int64_t i = 0; i < n; ++i) {
      op[i * so] = kLog ? gp[i * sg] - std::exp(yp[i * sy]) * s : yp[i * sy] * (gp[i * sg] - s);
    }
  });
  return Status::ok();
}

Status softmax(const KernelArgs& a) { return softmax_forward<false>(a, "softmax"); }
Status log_softmax(const KernelArgs& a) { return softmax_forward<true>(a, "log_softmax"); }
Status softmax_backward(const KernelArgs& a) {
  return softmax_backward_impl<false>(a, "softmax_backward");
}
Status log_softmax_backward(const KernelArgs& a) {
  return softmax_backward_impl<true>(a, "log_softmax_backward");
}

// ---- topk -------------------------------------------------------------------------------------

template <class T>
bool is_nan(T v) { return v != v; }

// NaN ranks above every number (as in PyTorch); ties keep index order.
template <class T>
bool ranks_before(T a, T b, bool largest) {
  if (largest) return (is_nan(a) && !is_nan(b)) || a > b;
  return (!is_nan(a) && is_nan(b)) || a < b;
}

template <class T>
void topk_lines(const TensorView& x, const TensorView& values, const TensorView& indices, int axis,
                int64_t k, bool largest) {
  const auto lines = make_lines<3>({&x, &values, &indices}, axis);
  const int64_t n = axis_len(x, axis);
  const int64_t sx = lines.axis_stride[0], sv = lines.axis_stride[1], si = lines.axis_stride[2];
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(n, 1));
  parallel_for(lines.count, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    int64_t off[3];
    for (int64_t line = begin; line < end; ++line) {
      line_offsets(lines, line, off);
      const T* xp = x.ptr<T>() + off[0];
      auto before = [&](int64_t a, int64_t b) {
        const T va = xp[a * sx], vb = xp[b * sx];
        if (ranks_before(va, vb, largest)) return true;
        if (ranks_before(vb, va, largest)) return false;
        return a < b;
      };
      std::iota(order.begin(), order.end(), int64_t{0});
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      T* vp = values.ptr<T>() + off[1];
      int64_t* ip = indices.ptr<int64_t>() + off[2];
      for (int64_t j = 0; j < k; ++j) {
        vp[j * sv] = xp[order[j] * sx];
        ip[j * si] = order[j];
      }
    }
  });
}

// topk(x) -> (values, indices int64) along `dim`, sorted best first (attrs k, dim, largest).
Status topk(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "topk", 1, 2));
  const TensorView &x = args.in(0), &values = args.out(0), &indices = args.out(1);
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, "topk", x, &axis));
  const int64_t k = args.attrs->get_int("k", 1), n = axis_len(x, axis);
  const bool largest = args.attrs->get_int("largest", 1) != 0;
  if (k < 0 || k > n)
    return make_status(StatusCode::kIndexError, "topk: k=", k, " is out of range for dim ", axis,
                       " of size ", n, " (input ", x.shape_str(), ")");
  UNIFIED_RETURN_IF_ERROR(check_dtype(indices, DType::kInt64, "topk", "indices output"));
  if (values.dtype != x.dtype || axis_len(values, axis) != k || axis_len(indices, axis) != k)
    return make_status(StatusCode::kInvalidArgument, "topk: outputs ", values.shape_str(), " ",
                       dtype_name(values.dtype), " and ", indices.shape_str(),
                       " do not fit k=", k, " of input ", x.shape_str());
  switch (x.dtype) {
    case DType::kFloat32: topk_lines<float>(x, values, indices, axis, k, largest); break;
    case DType::kInt32: topk_lines<int32_t>(x, values, indices, axis, k, largest); break;
    case DType::kInt64: topk_lines<int64_t>(x, values, indices, axis, k, largest); break;
    default: return unsupported_dtype("topk", x.dtype);
  }
  return Status::ok();
}

// topk_backward(grad, indices) -> zeros of the input's shape with grad added at the indices
// (attrs dim, dim_size). Duplicate indices accumulate; out-of-range ones are an IndexError.
Status topk_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "topk_backward", 2, 1));
  const TensorView &out = args.out(0), &g = args.in(0), &idx = args.in(1);
  UNIFIED_RETURN_IF_ERROR(check_dtype(g, DType::kFloat32, "topk_backward", "grad"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(idx, DType::kInt64, "topk_backward", "indices"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kFloat32, "topk_backward", "output"));
  UNIFIED_RETURN_IF_ERROR(same_shape("topk_backward", g, idx, "indices"));
  int axis = 0;
  UNIFIED_RETURN_IF_ERROR(read_axis(args, "topk_backward", out, &axis));
  const auto lines = make_lines<3>({&out, &g, &idx}, axis);
  const int64_t n = axis_len(out, axis), k = axis_len(g, axis);
  const int64_t so = lines.axis_stride[0], sg = lines.axis_stride[1], si = lines.axis_stride[2];
  FirstError bad;
  for_each_line(lines, n + k, [&](const int64_t* off) {
    float* op = out.ptr<float>() + off[0];
    const float* gp = g.ptr<float>() + off[1];
    const int64_t* ip = idx.ptr<int64_t>() + off[2];
    for (int64_t i = 0; i < n; ++i) op[i * so] = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t i = ip[j * si];
      if (i < 0 || i >= n) {
        bad.record(j, i);
        continue;
      }
      op[i * so] += gp[j * sg];
    }
  });
  if (bad.set.load())
    return make_status(StatusCode::kIndexError, "topk_backward: index ", bad.value,
                       " is out of range for dim ", axis, " of size ", n, " (output ",
                       out.shape_str(), ")");
  return Status::ok();
}

// ---- one_hot ----------------------------------------------------------------------------------

template <class T>
void one_hot_fill(const TensorView& x, const TensorView& out, int64_t classes, FirstError* bad) {
  // Operand 0 is a data-less contiguous view of x's shape: its offsets are linear indices.
  const TensorView linear = contiguous_view(nullptr, DType::kInt64, x.ndim, x.shape);
  const auto plan = make_strided_plan<2>({&linear, &x});
  int64_t* o = out.ptr<int64_t>();
  const T* xp = x.ptr<T>();
  for_each_row<2>(plan, [&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = off[0] + i * st[0];
      const int64_t value = static_cast<int64_t>(xp[off[1] + i * st[1]]);
      int64_t* row = o + pos * classes;
      std::fill(row, row + classes, int64_t{0});
      if (value < 0 || value >= classes) {
        bad->record(pos, value);
        continue;
      }
      row[value] = 1;
    }
  });
}

// one_hot(x int32/int64) -> int64 of shape x.shape + (num_classes,).
Status one_hot(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "one_hot", 1, 1));
  const TensorView &x = args.in(0), &out = args.out(0);
  const int64_t classes = args.attrs->get_int("num_classes", -1);
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kInt64, "one_hot", "output"));
  const bool dense = out.numel() == 0 || out.is_contiguous();
  bool fits = dense && out.ndim == x.ndim + 1 && out.shape[x.ndim] == classes;
  for (int d = 0; fits && d < x.ndim; ++d) fits = out.shape[d] == x.shape[d];
  if (!fits || classes < 0)
    return make_status(StatusCode::kInvalidArgument, "one_hot: output ", out.shape_str(),
                       " does not fit input ", x.shape_str(), " with num_classes=", classes);
  FirstError bad;
  switch (x.dtype) {
    case DType::kInt64: one_hot_fill<int64_t>(x, out, classes, &bad); break;
    case DType::kInt32: one_hot_fill<int32_t>(x, out, classes, &bad); break;
    default: return unsupported_dtype("one_hot", x.dtype);
  }
  if (bad.set.load())
    return make_status(StatusCode::kIndexError, "one_hot: class value ", bad.value,
                       " (at flat position ", bad.position, ") is out of range for num_classes=",
                       classes);
  return Status::ok();
}

}  // namespace

void register_nn_kernels(KernelRegistry& reg) {
  reg.add("softmax", softmax);
  reg.add("log_softmax", log_softmax);
  reg.add("softmax_backward", softmax_backward);
  reg.add("log_softmax_backward", log_softmax_backward);
  reg.add("topk", topk);
  reg.add("topk_backward", topk_backward);
  reg.add("one_hot", one_hot);
  register_nn_norm_kernels(reg);
}

}  // namespace unified
