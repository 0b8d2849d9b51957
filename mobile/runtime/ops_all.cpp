// The full runtime's kernel registry: every family of core_cpp/kernels except the collectives
// (they need a process group, which a standalone runtime has not). A trimmed build replaces this
// file with the ops_used.cpp that mobile/python/build.py generates from a bundle's kernel list.
// tests/mobile checks that this list gives every kernel of unified._core but the collectives.
#include "unified/registry.h"

namespace unified {

KernelRegistry& all_kernels() {
  static KernelRegistry* reg = [] {
    auto* r = new KernelRegistry();
    register_elementwise_kernels(*r);
    register_reduce_kernels(*r);
    register_matmul_kernels(*r);
    register_conv_kernels(*r);
    register_shape_kernels(*r);
    register_index_kernels(*r);
    register_nn_kernels(*r);
    register_random_kernels(*r);
    register_optim_kernels(*r);
    return r;
  }();
  return *reg;
}

}  // namespace unified
