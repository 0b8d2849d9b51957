// Dynamic batch of a format 2 bundle (export/FORMAT.md "Dynamic batch"): reading the slope
// fields and arena buffers of Plan.batch, and re-planning the bundle at another batch N.
// Every integer of the plan is value + slope * (N - saved) (checked for overflow and range);
// arena buffers are placed again greedily by size (the algorithm of
// tracer/passes/memory_plan.py `place`), and a new Plan is built, whose add_step bounds-checks
// every operand at N, so no batch a caller asks for can make a run read or write out of bounds.
// Limits: kernels trust operand shapes to agree with each other (as for format 1); the
// batch is one value shared by every input. UNIFIED_NO_DYNAMIC_BATCH builds only stubs that
// refuse a format 2 bundle by name (for a runtime trimmed to fixed-batch bundles).
#pragma once
#include <cstdint>

#include "bundle_reader.h"

namespace unified {

namespace fbs {
struct Plan;
}

// Step 5 of load_bundle: reads and checks Plan.batch and every slope field (after the saved
// plan was read into `out`), then evaluates the whole plan at batch 1 and at the largest batch.
Status read_bundle_batch(const fbs::Plan* plan, LoadedBundle* out);

// Re-plans `bundle` at batch `n` (1..batch.max): its inputs, outputs, steps, arena and Plan.
// On failure the bundle is unchanged. A bundle without a dynamic batch refuses any n.
Status bundle_set_batch(LoadedBundle* bundle, int64_t n);

}  // namespace unified
