// Dtype-blind strided copy and zero fill over TensorViews (the element bits are moved, not
// converted), built on the one loop template in strided_loop.h. Used by the shape and index
// kernels, whose outputs are copies or scatters of their inputs.
#pragma once
#include <cstdint>
#include <cstring>

#include "unified/kernel.h"
#include "unified/strided_loop.h"

namespace unified {

// dst = src (src broadcast to dst's shape); both must have the same item size.
inline Status copy_view(const TensorView& dst, const TensorView& src, const char* kernel) {
  if (dtype_itemsize(dst.dtype) != dtype_itemsize(src.dtype))
    return make_status(StatusCode::kTypeError, kernel, ": cannot copy ", dtype_name(src.dtype),
                       " into ", dtype_name(dst.dtype));
  if (dst.numel() == 0) return Status::ok();
  switch (dtype_itemsize(dst.dtype)) {
    case 1: unary_loop<uint8_t, uint8_t>(dst, src, [](uint8_t x) { return x; }); break;
    case 4: unary_loop<uint32_t, uint32_t>(dst, src, [](uint32_t x) { return x; }); break;
    case 8: unary_loop<uint64_t, uint64_t>(dst, src, [](uint64_t x) { return x; }); break;
    default: return unsupported_dtype(kernel, dst.dtype);
  }
  return Status::ok();
}

// Every element of dst set to all-zero bits (0, 0.0f or false for every dtype).
inline void zero_view(const TensorView& dst) {
  if (dst.numel() == 0) return;
  const int64_t itemsize = dtype_itemsize(dst.dtype);
  if (dst.is_contiguous()) {
    std::memset(dst.data, 0, static_cast<size_t>(dst.numel() * itemsize));
    return;
  }
  auto plan = make_strided_plan<1>({&dst});
  char* base = static_cast<char*>(dst.data);
  for_each_row<1>(plan, [&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; ++i)
      std::memset(base + (off[0] + i * st[0]) * itemsize, 0, static_cast<size_t>(itemsize));
  });
}

// True when two views cover the same elements in the same order (an in-place call).
inline bool same_view(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d] || (a.shape[d] > 1 && a.strides[d] != b.strides[d])) return false;
  return true;
}

}  // namespace unified
