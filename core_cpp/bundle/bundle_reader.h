// Bundle reader: checks a .ufb inference bundle (export/FORMAT.md) and builds the Plan it
// describes, with no Python (the standalone runtime links it too). A file is checked in this
// order, and the first failure is returned as a Status naming the byte range or the field:
//  1. the 64-byte preamble: magic, format version, FlatBuffer size, CRC-32, reserved zeros;
//  2. the FlatBuffer: identifier and flatbuffers::Verifier (every offset inside the buffer);
//  3. the data section: where the Bundle table says, 64-byte aligned, up to the end of the
//     file, and its CRC-32;
//  4. semantic checks: known dtypes and storages, shapes non-negative with products that do
//     not overflow, strings valid UTF-8, constants and reference tensors inside the data
//     section and aligned, every kernel in this build's registry (the error names it), every
//     output operand C-contiguous; then Plan::add_step bounds-checks each operand;
//  5. format 2 (dynamic batch): the slopes and arena buffers (bundle_batch.h), and the whole
//     plan evaluated at batch 1 and at the largest batch.
// Constants are used in place (Plan::add_const_view): the bytes must outlive the bundle, or
// are copied into an owned block (`copy`, or a start not 64-byte aligned).
// Limits: kernels trust operand shapes to agree with each other (the op's shape inference
// lives in Python; export/bundle.py re-checks each step with it on load).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../executor/arena.h"
#include "../executor/plan.h"

namespace unified {

constexpr uint32_t kBundleFormatVersion = 2;  // the newest this reader reads (1 and 2)
constexpr size_t kBundlePreambleBytes = 64;

// An input or output of the model. Axes in `dynamic_axes` may vary (format 1 records them
// only; a format 2 bundle runs at any batch, see BundleBatch).
struct BundleTensorSpec {
  std::string name;
  SlotSpec spec;
  std::vector<int32_t> dynamic_axes;
  std::vector<std::string> dynamic_names;
};

// A tensor stored in the data section (a constant or a reference tensor), read in place.
struct BundleTensor {
  std::string name;
  SlotSpec spec;
  const void* data = nullptr;
};

struct BundleReference {
  std::vector<BundleTensor> inputs, outputs;
};

struct BundleStep {
  std::string kernel, op, label;
  std::vector<Operand> inputs, outputs;
  Attrs attrs;
};

// Format 2: the saved value and slope of every integer that may move with the batch N
// (value + slope * (N - saved); core_cpp/bundle/bundle_batch.h evaluates them). Plain arrays,
// not copies of the steps: a trimmed runtime stays small. Empty (`saved` 0) for a fixed batch.
struct OperandSlopes {
  int32_t buffer = -1;  // arena buffer index of an arena operand
  int64_t offset = 0, offset_slope = 0;  // an arena operand's offset is inside its buffer
  int64_t shape[kMaxDims] = {0}, shape_slope[kMaxDims] = {0};
  int64_t strides[kMaxDims] = {0}, strides_slope[kMaxDims] = {0};
};

struct AttrSlopes {
  std::string name;
  AttrValue saved;              // kind int or ints
  std::vector<int64_t> slopes;  // one for an int, one per value of ints
};

struct StepSlopes {
  std::vector<OperandSlopes> inputs, outputs;
  std::vector<AttrSlopes> attrs;  // only the attrs with a non-zero slope
};

struct ArenaBufferSpec {
  int64_t offset = 0, nbytes = 0, nbytes_slope = 0;  // at N = saved
  int32_t first = 0, last = 0;                       // live span in plan steps
};

struct BundleBatch {
  int64_t saved = 0, max = 0, current = 0;
  std::vector<ArenaBufferSpec> buffers;
  std::vector<std::vector<int64_t>> input_shapes, input_slopes;  // saved dims, slopes per spec
  std::vector<std::vector<int64_t>> output_shapes, output_slopes;
  std::vector<StepSlopes> steps;
  bool dynamic() const { return saved > 0; }
};

struct BundleMetadata {
  std::string framework_version, created_utc, content_hash, name;
  std::vector<std::pair<std::string, std::string>> user;  // values are JSON text
};

struct LoadedBundle {
  uint32_t format_version = 0;
  std::vector<BundleTensorSpec> inputs, outputs;
  std::vector<BundleTensor> consts;
  std::vector<BundleStep> steps;
  std::vector<std::string> kernels;
  BundleMetadata metadata;
  std::vector<BundleReference> references;
  std::string out_structure;  // JSON (read by export/bundle.py)
  int64_t arena_bytes = 0;
  BundleBatch batch;  // format 2: the batch the plan runs at now, and how to change it
  // Held by a run or a batch change (bundle_run, bundle_set_batch): one at a time, so a
  // re-plan never replaces the Plan under a run on another thread.
  std::unique_ptr<std::atomic<bool>> busy = std::make_unique<std::atomic<bool>>(false);
  std::unique_ptr<Plan> plan;
  const uint8_t* bytes = nullptr;  // the file: the caller's memory, or `owned`
  size_t size = 0;
  Arena owned;
};

// Checks `data` (a whole bundle file) and fills `out` (steps 1-4 above). With copy=false the
// file's bytes are used in place when they start 64-byte aligned: keep them alive and
// unchanged while `out` lives.
Status load_bundle(const uint8_t* data, size_t size, LoadedBundle* out, bool copy = false);

// Runs the bundle's plan: inputs and outputs are C-contiguous views matching the specs.
// One run at a time per bundle; allocates nothing.
Status bundle_run(LoadedBundle* bundle, const TensorView* inputs, int num_inputs,
                  const TensorView* outputs, int num_outputs);

}  // namespace unified
