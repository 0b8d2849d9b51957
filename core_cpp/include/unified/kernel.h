// The one kernel signature: every kernel is `Status fn(const KernelArgs&)` over tensor views
// and parsed attributes. Outputs are allocated by the caller (shape inference lives in the
// op registry, unified/ops/), kernels only fill them.
#pragma once
#include "unified/attrs.h"
#include "unified/status.h"
#include "unified/tensor_view.h"

namespace unified {

struct KernelArgs {
  const TensorView* inputs = nullptr;
  int num_inputs = 0;
  const TensorView* outputs = nullptr;
  int num_outputs = 0;
  const Attrs* attrs = nullptr;

  const TensorView& in(int i) const { return inputs[i]; }
  const TensorView& out(int i) const { return outputs[i]; }
};

using KernelFn = Status (*)(const KernelArgs&);

// Checks shared by kernels; each returns a Status naming the kernel and the values.
Status check_arity(const KernelArgs& args, const char* kernel, int num_inputs, int num_outputs);
Status check_dtype(const TensorView& v, DType expected, const char* kernel, const char* role);
Status unsupported_dtype(const char* kernel, DType dtype);

}  // namespace unified
