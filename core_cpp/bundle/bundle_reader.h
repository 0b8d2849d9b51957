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
//     output operand C-contiguous; then Plan::add_step bounds-checks each operand.
// Constants are used in place (Plan::add_const_view): the bytes must outlive the bundle, or
// are copied into an owned block (`copy`, or a start not 64-byte aligned).
// Limits: kernels trust operand shapes to agree with each other (the op's shape inference
// lives in Python; export/bundle.py re-checks each step with it on load).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../executor/arena.h"
#include "../executor/plan.h"

namespace unified {

constexpr uint32_t kBundleFormatVersion = 1;
constexpr size_t kBundlePreambleBytes = 64;

// An input or output of the model. Axes in `dynamic_axes` may vary (recorded for later
// versions; v1 runs at `spec.shape` only).
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
