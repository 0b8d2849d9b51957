// KernelRegistry (kernels by name) and the argument checks kernels share. Which kernels fill
// the registry is decided elsewhere: src/registry.cpp's all_kernels() for the full library
// (unified._core), a generated ops_used.cpp for a trimmed edge runtime (mobile/).
#include "unified/registry.h"

namespace unified {

void KernelRegistry::add(const std::string& name, KernelFn fn) {
  auto it = ids_.find(name);
  if (it != ids_.end()) {  // re-registering replaces (a family may refine a kernel)
    fns_[it->second] = fn;
    return;
  }
  ids_[name] = static_cast<int>(fns_.size());
  fns_.push_back(fn);
  names_.push_back(name);
}

int KernelRegistry::find(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

Status check_arity(const KernelArgs& args, const char* kernel, int num_inputs, int num_outputs) {
  if (args.num_inputs != num_inputs || args.num_outputs != num_outputs)
    return make_status(StatusCode::kInvalidArgument, kernel, ": expected ", num_inputs,
                       " inputs and ", num_outputs, " outputs, got ", args.num_inputs, " and ",
                       args.num_outputs);
  return Status::ok();
}

Status check_dtype(const TensorView& v, DType expected, const char* kernel, const char* role) {
  if (v.dtype != expected)
    return make_status(StatusCode::kTypeError, kernel, ": ", role, " must be ",
                       dtype_name(expected), ", got ", dtype_name(v.dtype));
  return Status::ok();
}

Status unsupported_dtype(const char* kernel, DType dtype) {
  return make_status(StatusCode::kTypeError, kernel, ": dtype ", dtype_name(dtype),
                     " is not supported");
}

void register_standalone_kernels(KernelRegistry& reg) {
  register_elementwise_kernels(reg);
  register_reduce_kernels(reg);
  register_matmul_kernels(reg);
  register_conv_kernels(reg);
  register_shape_kernels(reg);
  register_index_kernels(reg);
  register_nn_kernels(reg);
  register_random_kernels(reg);
  register_optim_kernels(reg);
}

}  // namespace unified
