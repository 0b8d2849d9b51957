// random kernels (see unified/ops/random.py for the op definitions).
#include "unified/registry.h"

namespace unified {

void register_random_kernels(KernelRegistry& reg) { (void)reg; }

}  // namespace unified
