// Helpers shared by the nn kernel files (nn.cpp, nn_softmax.cpp): walking "lines" of strided
// operands along one dim, reading the `dim` attr, shape checks, and the first bad value found
// by a parallel loop. Private to core_cpp/kernels (not an include/ header).
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "unified/kernel.h"
#include "unified/threading.h"

namespace unified {
namespace nn_detail {

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

inline int64_t axis_len(const TensorView& v, int axis) { return v.ndim ? v.shape[axis] : 1; }

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

inline Status read_axis(const KernelArgs& args, const char* name, const TensorView& v, int* axis) {
  const int64_t dim = args.attrs->get_int("dim", -1);
  const int64_t rank = std::max<int64_t>(v.ndim, 1);
  if (dim < -rank || dim >= rank)
    return make_status(StatusCode::kIndexError, name, ": dim ", dim, " is out of range for shape ",
                       v.shape_str());
  *axis = static_cast<int>(dim < 0 ? dim + rank : dim);
  return Status::ok();
}

inline Status same_shape(const char* name, const TensorView& a, const TensorView& b, const char* what) {
  bool same = a.ndim == b.ndim;
  for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
  if (!same)
    return make_status(StatusCode::kInvalidArgument, name, ": ", what, " has shape ", b.shape_str(),
                       ", expected ", a.shape_str());
  return Status::ok();
}

// `v` has `ref`'s shape except along `axis` (the line walkers index every operand by ref's).
inline Status same_shape_but_axis(const char* name, const TensorView& ref, const TensorView& v,
                                  int axis, const char* what) {
  bool same = v.ndim == ref.ndim;
  for (int d = 0; same && d < ref.ndim; ++d) same = d == axis || v.shape[d] == ref.shape[d];
  if (!same)
    return make_status(StatusCode::kInvalidArgument, name, ": ", what, " has shape ",
                       v.shape_str(), ", expected ", ref.shape_str(), " but along dim ", axis);
  return Status::ok();
}

inline Status check_floats(const KernelArgs& args, const char* name, int num_inputs) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, 1));
  for (int i = 0; i < num_inputs; ++i) {
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, name, "input"));
    UNIFIED_RETURN_IF_ERROR(same_shape(name, args.out(0), args.in(i), "input"));
  }
  return check_dtype(args.out(0), DType::kFloat32, name, "output");
}

}  // namespace nn_detail
}  // namespace unified
