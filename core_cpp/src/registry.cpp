// The list of kernel families compiled into the full library (unified._core): all_kernels().
// The registry class and the shared argument checks are in kernel_registry.cpp; the edge
// runtime (mobile/) defines its own all_kernels() with only the kernels a model uses.
#include "unified/registry.h"

#include "unified/comm.h"  // register_collective_kernels

namespace unified {

KernelRegistry& all_kernels() {
  static KernelRegistry* reg = [] {
    auto* r = new KernelRegistry();
    register_standalone_kernels(*r);
    register_collective_kernels(*r);
    return r;
  }();
  return *reg;
}

}  // namespace unified
