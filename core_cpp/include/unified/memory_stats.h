// Process-wide counters of tensor memory: every NumPy array allocation (eager tensors; counted
// by the allocation handler installed by the Python module) and every executor arena.
#pragma once
#include <cstdint>

namespace unified {

void memory_add(int64_t bytes);  // negative on free
int64_t memory_current();
int64_t memory_peak();
void memory_reset_peak();

}  // namespace unified
