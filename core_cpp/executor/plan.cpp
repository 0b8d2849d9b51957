// Plan building (every operand checked against its storage once) and the run loop.
#include "plan.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <utility>

#include "unified/registry.h"

namespace unified {

namespace {

const char* storage_name(Storage s) {
  switch (s) {
    case Storage::kArena: return "arena";
    case Storage::kInput: return "input";
    case Storage::kParam: return "param";
    case Storage::kOutput: return "output";
    case Storage::kConst: return "const";
  }
  return "unknown";
}

bool is_external(Storage s) {
  return s == Storage::kInput || s == Storage::kParam || s == Storage::kOutput;
}

// Lowest and one-past-highest byte a view touches, relative to its byte offset.
void view_extent(const TensorView& v, int64_t* lo, int64_t* hi) {
  int64_t low = 0, high = 0;
  for (int i = 0; i < v.ndim; ++i) {
    const int64_t span = (v.shape[i] - 1) * v.strides[i];
    if (span < 0) low += span; else high += span;
  }
  const int64_t item = dtype_itemsize(v.dtype);
  *lo = low * item;
  *hi = (high + 1) * item;
}

}  // namespace

int64_t SlotSpec::nbytes() const {
  int64_t n = dtype_itemsize(dtype);
  for (int64_t d : shape) n *= d;
  return n;
}

std::string SlotSpec::str() const {
  std::ostringstream os;
  os << dtype_name(dtype) << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

Status Plan::init(int64_t arena_bytes, std::vector<SlotSpec> inputs, std::vector<SlotSpec> params,
                  std::vector<SlotSpec> outputs) {
  UNIFIED_RETURN_IF_ERROR(arena_.allocate(arena_bytes));
  specs_[index(Storage::kInput)] = std::move(inputs);
  specs_[index(Storage::kParam)] = std::move(params);
  specs_[index(Storage::kOutput)] = std::move(outputs);
  for (Storage s : {Storage::kInput, Storage::kParam, Storage::kOutput}) {
    for (const SlotSpec& spec : specs_[index(s)])
      UNIFIED_ENSURE(spec.shape.size() <= static_cast<size_t>(kMaxDims), "plan: ",
                     storage_name(s), " spec ", spec.str(), " has more than ", kMaxDims, " dims");
    bound_[index(s)].assign(specs_[index(s)].size(), nullptr);
  }
  return Status::ok();
}

Status Plan::add_const(const SlotSpec& spec, const void* data, int* slot) {
  Arena block;
  UNIFIED_RETURN_IF_ERROR(block.allocate(spec.nbytes()));
  if (spec.nbytes() > 0) std::memcpy(block.data(), data, static_cast<size_t>(spec.nbytes()));
  const_data_.push_back(block.data());
  consts_.push_back(std::move(block));
  specs_[index(Storage::kConst)].push_back(spec);
  *slot = static_cast<int>(const_data_.size()) - 1;
  return Status::ok();
}

Status Plan::add_const_view(const SlotSpec& spec, const void* data, int* slot) {
  UNIFIED_ENSURE(spec.shape.size() <= static_cast<size_t>(kMaxDims), "plan: const ", spec.str(),
                 " has more than ", kMaxDims, " dims");
  for (int64_t d : spec.shape)
    UNIFIED_ENSURE(d >= 0, "plan: const ", spec.str(), " has a negative size");
  const auto address = reinterpret_cast<uintptr_t>(data);
  UNIFIED_ENSURE(spec.nbytes() == 0 || (data != nullptr &&
                 address % static_cast<uintptr_t>(dtype_itemsize(spec.dtype)) == 0),
                 "plan: const ", spec.str(), " data is null or not aligned to its item size");
  const_data_.push_back(static_cast<const char*>(data));
  specs_[index(Storage::kConst)].push_back(spec);
  *slot = static_cast<int>(const_data_.size()) - 1;
  return Status::ok();
}

Status Plan::check_operand(const Operand& op, bool is_output, const char* role, int k) const {
  const int s = index(op.storage);
  UNIFIED_ENSURE(s >= 0 && s < kNumStorages, "plan: ", role, " ", k, " has unknown storage ", s);
  const char* where = storage_name(op.storage);
  UNIFIED_ENSURE(!is_output || (op.storage != Storage::kInput && op.storage != Storage::kConst),
                 "plan: output ", k, " writes read-only ", where, " ", op.slot);
  const TensorView& v = op.view;
  UNIFIED_ENSURE(v.ndim >= 0 && v.ndim <= kMaxDims, "plan: ", role, " ", k, " has ", v.ndim,
                 " dims (at most ", kMaxDims, ")");
  for (int i = 0; i < v.ndim; ++i)
    UNIFIED_ENSURE(v.shape[i] >= 0, "plan: ", role, " ", k, " has negative size ", v.shape[i]);
  int64_t capacity = arena_.size();
  if (op.storage != Storage::kArena) {
    const auto& specs = specs_[s];
    UNIFIED_ENSURE(op.slot >= 0 && op.slot < static_cast<int>(specs.size()), "plan: ", role, " ",
                   k, " reads ", where, " slot ", op.slot, " but the plan has ", specs.size());
    UNIFIED_ENSURE(specs[op.slot].dtype == v.dtype, "plan: ", role, " ", k, " is ",
                   dtype_name(v.dtype), " but ", where, " ", op.slot, " is ", specs[op.slot].str());
    capacity = specs[op.slot].nbytes();
  }
  const int64_t item = dtype_itemsize(v.dtype);
  UNIFIED_ENSURE(op.byte_offset % item == 0, "plan: ", role, " ", k, " byte offset ",
                 op.byte_offset, " is not a multiple of the item size ", item);
  if (v.numel() == 0) return Status::ok();
  int64_t lo = 0, hi = 0;
  view_extent(v, &lo, &hi);
  UNIFIED_ENSURE(op.byte_offset + lo >= 0 && op.byte_offset + hi <= capacity, "plan: ", role, " ",
                 k, " ", v.shape_str(), " at byte ", op.byte_offset, " spans [", op.byte_offset + lo,
                 ", ", op.byte_offset + hi, ") outside ", where, " ", op.slot, " of ", capacity,
                 " bytes");
  return Status::ok();
}

Status Plan::add_step(int kernel_id, std::string label, std::vector<Operand> inputs,
                      std::vector<Operand> outputs, Attrs attrs) {
  KernelRegistry& reg = all_kernels();
  UNIFIED_ENSURE(kernel_id >= 0 && kernel_id < reg.size(), "plan: no kernel with id ", kernel_id,
                 " (", label, ")");
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status st = check_operand(inputs[i], false, "input", static_cast<int>(i));
    if (!st.is_ok()) return make_status(st.code(), st.message(), " (", label, ")");
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    Status st = check_operand(outputs[i], true, "output", static_cast<int>(i));
    if (!st.is_ok()) return make_status(st.code(), st.message(), " (", label, ")");
  }
  Step step;
  step.kernel_id = kernel_id;
  step.fn = reg.get(kernel_id);
  step.label = std::move(label);
  step.inputs = std::move(inputs);
  step.outputs = std::move(outputs);
  for (const Operand& op : step.inputs) step.in_views.push_back(op.view);
  for (const Operand& op : step.outputs) step.out_views.push_back(op.view);
  step.attrs = std::move(attrs);
  steps_.push_back(std::move(step));
  return Status::ok();
}

Status Plan::bind(Storage storage, int slot, const TensorView& view) {
  UNIFIED_ENSURE(is_external(storage), "plan: cannot bind ", storage_name(storage), " storage");
  const auto& specs = specs_[index(storage)];
  const char* where = storage_name(storage);
  UNIFIED_ENSURE(slot >= 0 && slot < static_cast<int>(specs.size()), "plan: no ", where, " slot ",
                 slot, " (the plan has ", specs.size(), ")");
  const SlotSpec& spec = specs[slot];
  bool same = view.dtype == spec.dtype && view.ndim == static_cast<int>(spec.shape.size());
  for (int i = 0; same && i < view.ndim; ++i) same = view.shape[i] == spec.shape[i];
  if (!same)
    return make_status(view.dtype == spec.dtype ? StatusCode::kInvalidArgument : StatusCode::kTypeError,
                       "plan: ", where, " ", slot, " must be ", spec.str(), ", got ",
                       dtype_name(view.dtype), view.shape_str());
  UNIFIED_ENSURE(view.is_contiguous(), "plan: ", where, " ", slot, " ", spec.str(),
                 " must be C-contiguous");
  bound_[index(storage)][slot] = static_cast<char*>(view.data);
  return Status::ok();
}

char* Plan::base(const Operand& op) const {
  switch (op.storage) {
    case Storage::kArena: return arena_.data() + op.byte_offset;
    // kernels never write an input operand (check_operand refuses const outputs)
    case Storage::kConst: return const_cast<char*>(const_data_[op.slot]) + op.byte_offset;
    default: return bound_[index(op.storage)][op.slot] + op.byte_offset;
  }
}

Status Plan::run() {
  if (running_.exchange(true))
    return make_status(StatusCode::kInternal, "plan: already running (one call at a time)");
  struct Done {
    Plan* p;
    ~Done() {
      for (Storage s : {Storage::kInput, Storage::kParam, Storage::kOutput})
        std::fill(p->bound_[index(s)].begin(), p->bound_[index(s)].end(), nullptr);
      p->running_.store(false);
    }
  } done{this};
  for (Storage s : {Storage::kInput, Storage::kParam, Storage::kOutput})
    for (size_t k = 0; k < bound_[index(s)].size(); ++k)
      UNIFIED_ENSURE(bound_[index(s)][k] != nullptr || specs_[index(s)][k].nbytes() == 0,
                     "plan: ", storage_name(s), " ", k, " is not bound");
  KernelRegistry& reg = all_kernels();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  auto since = [t0] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  };
  if (profiling_) timeline_.assign(steps_.size(), {0, 0});  // sized once: no growth per run
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = steps_[i];
    if (profiling_) timeline_[i].first = since();
    for (size_t j = 0; j < step.inputs.size(); ++j) step.in_views[j].data = base(step.inputs[j]);
    for (size_t j = 0; j < step.outputs.size(); ++j) step.out_views[j].data = base(step.outputs[j]);
    KernelArgs args;
    args.inputs = step.in_views.data();
    args.num_inputs = static_cast<int>(step.in_views.size());
    args.outputs = step.out_views.data();
    args.num_outputs = static_cast<int>(step.out_views.size());
    args.attrs = &step.attrs;
    Status st = step.fn(args);
    if (profiling_) timeline_[i].second = since();
    if (!st.is_ok())
      return make_status(st.code(), "while running step ", i, " (kernel ", reg.name(step.kernel_id),
                         ") ", step.label, ": ", st.message());
  }
  return Status::ok();
}

std::string Plan::describe() const {
  std::ostringstream os;
  os << "plan: arena " << arena_.size() << " bytes, " << steps_.size() << " steps\n";
  auto operand = [&os](const Operand& op) {
    os << " " << storage_name(op.storage);
    if (op.storage != Storage::kArena) os << op.slot;
    os << "+" << op.byte_offset << ":" << dtype_name(op.view.dtype) << op.view.shape_str();
  };
  for (size_t i = 0; i < steps_.size(); ++i) {
    os << "  " << i << " " << all_kernels().name(steps_[i].kernel_id) << " <-";
    for (const Operand& op : steps_[i].inputs) operand(op);
    os << " ->";
    for (const Operand& op : steps_[i].outputs) operand(op);
    os << "\n";
  }
  return os.str();
}

}  // namespace unified
