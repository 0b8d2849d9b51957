// nn kernels: topk (and its backward scatter), one_hot, and register_nn_kernels for the whole
// family. Inputs may be strided views: topk walks "lines" along its dim with every operand's
// own strides (nn_lines.h). softmax is in nn_softmax.cpp, batch_norm/layer_norm in nn_norm.cpp,
// nll_loss in loss.cpp; the op definitions in unified/ops/nn.py and unified/ops/loss.py.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "unified/registry.h"
#include "unified/strided_loop.h"
#include "nn_lines.h"

namespace unified {

void register_nn_norm_kernels(KernelRegistry& reg);     // nn_norm.cpp
void register_nn_softmax_kernels(KernelRegistry& reg);  // nn_softmax.cpp
void register_loss_kernels(KernelRegistry& reg);        // loss.cpp

namespace {

using namespace nn_detail;

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

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
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
  UNIFIED_RETURN_IF_ERROR(same_shape_but_axis("topk", x, values, axis, "values output"));
  UNIFIED_RETURN_IF_ERROR(same_shape_but_axis("topk", x, indices, axis, "indices output"));
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
  UNIFIED_RETURN_IF_ERROR(same_shape_but_axis("topk_backward", out, g, axis, "grad"));
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

namespace {
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
}  // namespace

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

void register_nn_kernels(KernelRegistry& reg) {
  reg.add("topk", topk);
  reg.add("topk_backward", topk_backward);
  reg.add("one_hot", one_hot);
  register_nn_norm_kernels(reg);
  register_nn_softmax_kernels(reg);
  register_loss_kernels(reg);
}

}  // namespace unified
