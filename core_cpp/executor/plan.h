// Plan: a lowered graph (tracer/lower.py builds it, or core_cpp/bundle/bundle_reader.cpp from a
// bundle file) that C++ runs from start to end. It holds one arena (allocated once, 64-byte
// aligned), constants it owns or views (a bundle's weights, used in place), and a list of steps: a
// kernel from the registry (the same KernelFn eager calls), operand views and parsed Attrs.
// An operand names its storage (the arena, external input/param/output slot k, or constant
// k), a byte offset into it, and shape + strides in elements + dtype. Every operand is
// checked against its storage's size when the step is added, and every external array
// against its slot's spec when it is bound, so a run cannot read or write out of bounds.
// run() makes no allocation; a plan runs one call at a time (a second concurrent run fails).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "arena.h"
#include "unified/kernel.h"

namespace unified {

enum class Storage : int32_t { kArena = 0, kInput = 1, kParam = 2, kOutput = 3, kConst = 4 };
constexpr int kNumStorages = 5;

struct Operand {
  Storage storage = Storage::kArena;
  int32_t slot = 0;
  int64_t byte_offset = 0;
  TensorView view;  // shape, strides, dtype; data is filled in at run time
};

// What an external array (or a constant) must be: C-contiguous with this dtype and shape.
struct SlotSpec {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  int64_t nbytes() const;
  std::string str() const;
};

struct Step {
  int kernel_id = -1;
  KernelFn fn = nullptr;
  std::string label;  // the graph node, e.g. "%7 = conv2d %5, %w3 (traced at model.py:40)"
  std::vector<Operand> inputs, outputs;
  std::vector<TensorView> in_views, out_views;  // operands with data pointers, set per run
  Attrs attrs;
};

class Plan {
 public:
  Status init(int64_t arena_bytes, std::vector<SlotSpec> inputs, std::vector<SlotSpec> params,
              std::vector<SlotSpec> outputs);
  // Copies `data` (C-contiguous, spec.nbytes() bytes) into a constant owned by the plan.
  Status add_const(const SlotSpec& spec, const void* data, int* slot);
  // A constant read in place from `data` (spec.nbytes() bytes, C-contiguous, aligned to the
  // item size), which the caller keeps alive and unchanged for the plan's life (no copy).
  Status add_const_view(const SlotSpec& spec, const void* data, int* slot);
  Status add_step(int kernel_id, std::string label, std::vector<Operand> inputs,
                  std::vector<Operand> outputs, Attrs attrs);
  // Points an external slot at caller memory described by `view` (checked against the spec).
  Status bind(Storage storage, int slot, const TensorView& view);
  // Runs every step in order; a failure names the step index, kernel and graph node.
  Status run();

  int num_slots(Storage storage) const { return static_cast<int>(specs_[index(storage)].size()); }
  int num_steps() const { return static_cast<int>(steps_.size()); }
  int64_t arena_bytes() const { return arena_.size(); }
  std::string describe() const;
  // When on, run() records each step's start and end (ns since the run began) for a timeline.
  void set_profiling(bool on) { profiling_ = on; }
  bool profiling() const { return profiling_; }
  // (start, end) per step of the last profiled run; empty when profiling is off.
  const std::vector<std::pair<int64_t, int64_t>>& timeline() const { return timeline_; }
  const std::string& step_label(int i) const { return steps_[i].label; }
  int step_kernel(int i) const { return steps_[i].kernel_id; }

 private:
  static int index(Storage s) { return static_cast<int>(s); }
  Status check_operand(const Operand& op, bool is_output, const char* role, int k) const;
  char* base(const Operand& op) const;

  Arena arena_;
  std::vector<Arena> consts_;               // constants the plan owns (add_const)
  std::vector<const char*> const_data_;     // every constant's bytes, owned or viewed
  std::vector<SlotSpec> specs_[kNumStorages];  // arena: none; consts: one per constant
  std::vector<char*> bound_[kNumStorages];     // external slot pointers (inputs/params/outputs)
  std::vector<Step> steps_;
  std::atomic<bool> running_{false};
  bool profiling_ = false;
  std::vector<std::pair<int64_t, int64_t>> timeline_;
};

}  // namespace unified
