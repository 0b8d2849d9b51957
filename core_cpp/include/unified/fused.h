// The fused-elementwise engine (kernels/fused.cpp): the kernel `fused_elementwise` and the op
// names its programs may use (bound as _core.fusable_ops()).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "unified/registry.h"

namespace unified {

void register_fused_kernels(KernelRegistry& reg);  // called by register_elementwise_kernels
std::vector<std::string> fused_op_names();

// The tile function of a one-input fusable op ("relu", "gelu", ...): d[i] = op(a[i], p0, p1)
// for n floats (d and a must not overlap; b is unused); nullptr for an unknown name or a
// two-input op. kernels/fused_linear.cpp applies it to a GEMM's output.
using FusedTileFn = void (*)(float* d, const float* a, const float* b, int64_t n, float p0,
                             float p1);
FusedTileFn fused_unary_tile(const std::string& name);

// A one-input activation applied in place to a kernel's output block while it is in cache
// (fused_linear.cpp, conv.cpp's fused_conv2d): data[i] = tile(data[i], p0, p1). A null tile
// (the default) is "no activation". apply is defined in kernels/fused_linear.cpp.
struct FusedEpilogue {
  FusedTileFn tile = nullptr;
  float p0 = 0.0f, p1 = 0.0f;
  explicit operator bool() const { return tile != nullptr; }
  void apply(float* data, int64_t n) const;  // n contiguous floats, through a stack tile
};

void register_fused_linear_kernels(KernelRegistry& reg);  // called by register_matmul_kernels

}  // namespace unified
