// fused_linear: y = act(x W^T + b) in one kernel call, built by tracer/passes/fuse_linear.py
// from a `linear` whose output dies at a one-input fusable activation (relu, gelu, ...). The
// GEMM is the registry's `linear` kernel (matmul.cpp, the same one eager runs); the
// activation is the fused engine's tile function (fused.cpp, the same ew:: math as the
// unfused kernel), applied while the output is still in cache, so the results are
// bit-identical to running linear then the activation. OpDef: unified/ops/fused_linear.py.
// Attrs: activation (an op name of _core.fusable_ops() with one input), p0, p1 (its params).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "unified/fused.h"
#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

constexpr int64_t kTile = 512;  // floats per activation tile (2 KiB on the stack)
KernelFn linear_kernel = nullptr;  // set by register_fused_linear_kernels

// d = act(d) over n contiguous floats, tile by tile (the tile functions take restrict pointers).
void activate(FusedTileFn tile, float* data, int64_t n, float p0, float p1) {
  alignas(64) float out[kTile];
  for (int64_t start = 0; start < n; start += kTile) {
    const int64_t m = std::min(kTile, n - start);
    tile(out, data + start, nullptr, m, p0, p1);
    std::memcpy(data + start, out, static_cast<size_t>(m) * sizeof(float));
  }
}

Status fused_linear(const KernelArgs& args) {
  const std::string activation = args.attrs ? args.attrs->get_string("activation") : "";
  FusedTileFn tile = fused_unary_tile(activation);
  if (tile == nullptr)
    return make_status(StatusCode::kInvalidArgument, "fused_linear: activation '", activation,
                       "' is not a one-input op of the fused engine (_core.fusable_ops())");
  if (linear_kernel == nullptr)
    return make_status(StatusCode::kInternal, "fused_linear: the linear kernel is not registered");
  UNIFIED_RETURN_IF_ERROR(linear_kernel(args));  // checks arity, dtypes and shapes
  const float p0 = static_cast<float>(args.attrs->get_float("p0"));
  const float p1 = static_cast<float>(args.attrs->get_float("p1"));
  const TensorView& y = args.out(0);
  if (y.is_contiguous()) {
    float* data = y.ptr<float>();
    parallel_for(y.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
      activate(tile, data + begin, end - begin, p0, p1);
    });
    return Status::ok();
  }
  // a strided output: element by element, with an odometer over the shape
  int64_t index[kMaxDims] = {0}, offset = 0;
  float* base = y.ptr<float>();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    float value = base[offset];
    tile(base + offset, &value, nullptr, 1, p0, p1);
    for (int d = y.ndim - 1; d >= 0; --d) {
      offset += y.strides[d];
      if (++index[d] < y.shape[d]) break;
      offset -= index[d] * y.strides[d];
      index[d] = 0;
    }
  }
  return Status::ok();
}

}  // namespace

void register_fused_linear_kernels(KernelRegistry& reg) {
  const int id = reg.find("linear");
  linear_kernel = id >= 0 ? reg.get(id) : nullptr;
  reg.add("fused_linear", fused_linear);
}

}  // namespace unified
