// The fused-elementwise engine (kernels/fused.cpp): the kernel `fused_elementwise` and the op
// names its programs may use (bound as _core.fusable_ops()).
#pragma once
#include <string>
#include <vector>

#include "unified/registry.h"

namespace unified {

void register_fused_kernels(KernelRegistry& reg);  // called by register_elementwise_kernels
std::vector<std::string> fused_op_names();

}  // namespace unified
