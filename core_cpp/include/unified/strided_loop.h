// The one loop template for elementwise kernels: broadcasts inputs to the output's shape,
// merges dimensions that are contiguous for every operand, and runs the innermost dimension
// as a plain (vectorizable) loop, split across threads when the work is large.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>

#include "unified/status.h"
#include "unified/tensor_view.h"
#include "unified/threading.h"

namespace unified {

// Every input must broadcast to the output's shape (the loop would read out of bounds
// otherwise): kernels check it themselves, so callers writing into an existing tensor (x.mul_(y))
// need no separate shape inference.
inline Status check_broadcast(const char* kernel, const TensorView& in, const TensorView& out) {
  bool ok = in.ndim <= out.ndim;
  for (int d = 0; ok && d < in.ndim; ++d) {
    int64_t size = in.shape[d];
    ok = size == 1 || size == out.shape[d + out.ndim - in.ndim];
  }
  if (!ok)
    return make_status(StatusCode::kInvalidArgument, kernel, ": input of shape ", in.shape_str(),
                       " cannot be broadcast to the output shape ", out.shape_str());
  return Status::ok();
}


// Operand 0 is the output; operands 1..N-1 are inputs broadcast to the output's shape.
template <int N>
struct StridedPlan {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
};

template <int N>
StridedPlan<N> make_strided_plan(const std::array<const TensorView*, N>& views) {
  const TensorView& out = *views[0];
  StridedPlan<N> p;
  // 1. align every operand to the output's dims (stride 0 where broadcast), dropping size-1 dims
  int nd = 0;
  for (int d = 0; d < out.ndim; ++d) {
    if (out.shape[d] == 1) continue;
    p.shape[nd] = out.shape[d];
    for (int k = 0; k < N; ++k) {
      const TensorView& v = *views[k];
      int vd = d - (out.ndim - v.ndim);
      p.strides[k][nd] = (vd < 0 || v.shape[vd] == 1) ? 0 : v.strides[vd];
    }
    ++nd;
  }
  // 2. merge neighbouring dims that are contiguous with each other for every operand
  int merged = 0;
  for (int d = 0; d < nd; ++d) {
    if (merged > 0) {
      bool can_merge = true;
      for (int k = 0; k < N; ++k)
        can_merge &= p.strides[k][merged - 1] == p.strides[k][d] * p.shape[d];
      if (can_merge) {
        p.shape[merged - 1] *= p.shape[d];
        for (int k = 0; k < N; ++k) p.strides[k][merged - 1] = p.strides[k][d];
        continue;
      }
    }
    p.shape[merged] = p.shape[d];
    for (int k = 0; k < N; ++k) p.strides[k][merged] = p.strides[k][d];
    ++merged;
  }
  if (merged == 0) {  // a single element
    p.shape[0] = 1;
    for (int k = 0; k < N; ++k) p.strides[k][0] = 0;
    merged = 1;
  }
  p.ndim = merged;
  return p;
}

// Calls row(offsets, n, inner_strides) for every innermost row; offsets are element offsets
// of each operand at the row start. Rows are split across threads when numel is large.
template <int N, class RowFn>
void for_each_row(const StridedPlan<N>& p, RowFn row) {
  const int inner = p.ndim - 1;
  const int64_t n_inner = p.shape[inner];
  int64_t n_rows = 1;
  for (int d = 0; d < inner; ++d) n_rows *= p.shape[d];
  int64_t inner_strides[N];
  for (int k = 0; k < N; ++k) inner_strides[k] = p.strides[k][inner];

  auto run_rows = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t offsets[N] = {0};
      int64_t rem = r;
      for (int d = inner - 1; d >= 0; --d) {
        int64_t i = rem % p.shape[d];
        rem /= p.shape[d];
        for (int k = 0; k < N; ++k) offsets[k] += i * p.strides[k][d];
      }
      row(offsets, n_inner, inner_strides);
    }
  };
  if (n_rows == 1) {
    // One long row: split the row itself.
    parallel_for(n_inner, kGrainElements, [&](int64_t begin, int64_t end) {
      int64_t offsets[N];
      for (int k = 0; k < N; ++k) offsets[k] = begin * inner_strides[k];
      row(offsets, end - begin, inner_strides);
    });
  } else {
    int64_t grain_rows = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(n_inner, 1));
    parallel_for(n_rows, grain_rows, run_rows);
  }
}

template <class TOut, class TIn, class F>
void unary_loop(const TensorView& out, const TensorView& in, F f) {
  auto p = make_strided_plan<2>({&out, &in});
  TOut* po = out.ptr<TOut>();
  const TIn* pi = in.ptr<TIn>();
  for_each_row<2>(p, [&](const int64_t* off, int64_t n, const int64_t* st) {
    TOut* o = po + off[0];
    const TIn* a = pi + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(a[i * st[1]]);
    }
  });
}

template <class TOut, class TA, class TB, class F>
void binary_loop(const TensorView& out, const TensorView& a, const TensorView& b, F f) {
  auto p = make_strided_plan<3>({&out, &a, &b});
  TOut* po = out.ptr<TOut>();
  const TA* pa = a.ptr<TA>();
  const TB* pb = b.ptr<TB>();
  for_each_row<3>(p, [&](const int64_t* off, int64_t n, const int64_t* st) {
    TOut* o = po + off[0];
    const TA* x = pa + off[1];
    const TB* y = pb + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const TB yv = y[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const TA xv = x[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
    }
  });
}

template <class TOut, class TC, class TA, class TB, class F>
void ternary_loop(const TensorView& out, const TensorView& c, const TensorView& a,
                  const TensorView& b, F f) {
  auto p = make_strided_plan<4>({&out, &c, &a, &b});
  TOut* po = out.ptr<TOut>();
  const TC* pc = c.ptr<TC>();
  const TA* pa = a.ptr<TA>();
  const TB* pb = b.ptr<TB>();
  for_each_row<4>(p, [&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; ++i)
      po[off[0] + i * st[0]] = f(pc[off[1] + i * st[1]], pa[off[2] + i * st[2]], pb[off[3] + i * st[3]]);
  });
}

}  // namespace unified
