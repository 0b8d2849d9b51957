// Allocator tuning for eager mode: glibc returns large blocks (>= 128 KiB) to the OS on free and
// maps fresh zero pages on the next allocation, so every op on a large tensor paid page faults
// (a 256^3 matmul ran 2x slower in a fresh process). Raising the mmap and trim thresholds keeps
// freed blocks in the heap for reuse. Process-wide, so it can be turned off
// (UNIFIED_ALLOCATOR_TUNING=0, read by unified/config.py).
#include "unified/registry.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace unified {

bool tune_allocator() {
#if defined(__GLIBC__)
  const int kMmapThreshold = 32 << 20;   // glibc's maximum on 64-bit
  const int kTrimThreshold = 512 << 20;  // keep up to 512 MiB of freed memory for reuse
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace unified
