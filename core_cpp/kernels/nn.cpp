// nn kernels (see unified/ops/nn.py for the op definitions).
#include "unified/registry.h"

namespace unified {

void register_nn_kernels(KernelRegistry& reg) { (void)reg; }

}  // namespace unified
