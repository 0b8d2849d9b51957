// index kernels (see unified/ops/index.py for the op definitions).
#include "unified/registry.h"

namespace unified {

void register_index_kernels(KernelRegistry& reg) { (void)reg; }

}  // namespace unified
