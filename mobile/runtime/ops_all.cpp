// The full runtime's kernel registry: every family of core_cpp/kernels except the collectives
// (they need a process group, which a standalone runtime has not). A trimmed build replaces this
// file with the ops_used.cpp that mobile/python/build.py generates from a bundle's kernel list.
// register_standalone_kernels (kernel_registry.cpp) is the one list of those families.
#include "unified/registry.h"

namespace unified {

KernelRegistry& all_kernels() {
  static KernelRegistry* reg = [] {
    auto* r = new KernelRegistry();
    register_standalone_kernels(*r);
    return r;
  }();
  return *reg;
}

}  // namespace unified
