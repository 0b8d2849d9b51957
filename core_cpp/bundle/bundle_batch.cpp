// Reading and evaluating a format 2 bundle's dynamic batch (bundle_batch.h). Re-planning at N:
//  1. every spec, operand and int attr: value + slope * (N - saved), overflow-checked, dims and
//     offsets in [0, 2^48], strides inside +-2^48 with a span under 2^48;
//  2. arena buffers: sizes at N, then greedy by size (largest first, then first step, then
//     index), each at the lowest 64-byte aligned offset clear of every placed buffer whose
//     live span overlaps its own (tracer/passes/memory_plan.py `place`); an arena operand is
//     its buffer's place plus its offset inside the buffer, and must lie inside the buffer;
//  3. a new Plan from those values (Plan::add_step checks every operand again); only when it is
//     complete are the bundle's specs and steps rewritten (so a failure changes nothing).
// Messages are formatted printf-style and field paths only on failure: this file is linked
// into every trimmed runtime, where template-heavy formatting costs kilobytes. Compiled with
// UNIFIED_NO_DYNAMIC_BATCH (a runtime only for fixed-batch bundles) it is two stubs that
// refuse format 2 by name, about 20 KB less in a size build.
#include "bundle_batch.h"

#include <cstdarg>
#include <cstdio>
#include <utility>

#include "unified/bundle_generated.h"
#include "unified/registry.h"

namespace unified {

namespace {

namespace fb = ::unified::fbs;

#if !defined(UNIFIED_NO_DYNAMIC_BATCH)

constexpr int64_t kMaxBytes = int64_t{1} << 48;
constexpr int64_t kMaxBatch = int64_t{1} << 31;
constexpr int64_t kAlign = 64;

__attribute__((format(printf, 1, 2))) Status bad(const char* format, ...) {
  char text[400];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return Status(StatusCode::kInvalidArgument, std::string("bundle: ") + text);
}

long long ll(int64_t v) { return static_cast<long long>(v); }

bool in_range(int64_t v) { return v > -kMaxBytes && v < kMaxBytes; }

// v + slope * d into *out when it neither overflows nor leaves [lo, hi].
bool affine(int64_t v, int64_t slope, int64_t d, int64_t lo, int64_t hi, int64_t* out) {
  int64_t moved = 0;
  return !__builtin_mul_overflow(slope, d, &moved) && !__builtin_add_overflow(v, moved, out) &&
         *out >= lo && *out <= hi;
}

// ---- reading ---------------------------------------------------------------------------------
// `n` slopes from `v` (absent: all 0), each inside +-2^48.
Status read_slopes(const flatbuffers::Vector<int64_t>* v, uint32_t n, const char* at,
                   const char* field, int64_t* out) {
  for (uint32_t i = 0; i < n; ++i) out[i] = 0;
  if (v == nullptr) return Status::ok();
  if (reinterpret_cast<uintptr_t>(v->Data()) % alignof(int64_t) != 0)
    return bad("%s.%s is not aligned to 8 bytes", at, field);
  if (v->size() != n)
    return bad("%s.%s has %u entries, the values it moves %u", at, field, v->size(), n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = v->Get(i);
    if (!in_range(out[i])) return bad("%s.%s[%u] = %lld is out of range", at, field, i,
                                      ll(out[i]));
  }
  return Status::ok();
}

Status read_specs(const flatbuffers::Vector<flatbuffers::Offset<fb::TensorSpec>>* fbs,
                  const std::vector<BundleTensorSpec>& specs, const char* side,
                  std::vector<std::vector<int64_t>>* shapes,
                  std::vector<std::vector<int64_t>>* slopes) {
  for (size_t k = 0; k < specs.size(); ++k) {
    char at[48];
    std::snprintf(at, sizeof at, "plan.%s[%zu]", side, k);
    const auto& shape = specs[k].spec.shape;
    shapes->push_back(shape);
    slopes->emplace_back(shape.size());
    UNIFIED_RETURN_IF_ERROR(read_slopes(fbs->Get(static_cast<uint32_t>(k))->shape_slope(),
                                        static_cast<uint32_t>(shape.size()), at, "shape_slope",
                                        slopes->back().data()));
  }
  return Status::ok();
}

Status read_operand(const fb::Operand* o, const Operand& saved, const BundleBatch& batch,
                    const char* at, OperandSlopes* out) {
  const uint32_t ndim = static_cast<uint32_t>(saved.view.ndim);
  UNIFIED_RETURN_IF_ERROR(read_slopes(o->shape_slope(), ndim, at, "shape_slope",
                                      out->shape_slope));
  UNIFIED_RETURN_IF_ERROR(read_slopes(o->strides_slope(), ndim, at, "strides_slope",
                                      out->strides_slope));
  for (uint32_t i = 0; i < ndim; ++i) {
    out->shape[i] = saved.view.shape[i];
    out->strides[i] = saved.view.strides[i];
  }
  out->offset = saved.byte_offset;
  out->offset_slope = o->offset_slope();
  out->buffer = o->buffer();
  if (!in_range(out->offset_slope))
    return bad("%s.offset_slope = %lld is out of range", at, ll(out->offset_slope));
  const bool arena = saved.storage == Storage::kArena;
  const int32_t nb = static_cast<int32_t>(batch.buffers.size());
  if (!arena && out->buffer != -1)
    return bad("%s.buffer = %d but only arena operands lie in an arena buffer", at, out->buffer);
  if (arena && (out->buffer < 0 || out->buffer >= nb))
    return bad("%s.buffer = %d is not one of the %d arena buffers", at, out->buffer, nb);
  if (arena) {
    out->offset -= batch.buffers[out->buffer].offset;
    if (out->offset < 0)
      return bad("%s.byte_offset %lld lies before its buffer %d at %lld", at,
                 ll(saved.byte_offset), out->buffer, ll(batch.buffers[out->buffer].offset));
  }
  return Status::ok();
}

Status read_attr(const fb::Attr* a, const AttrValue* saved, const char* at, StepSlopes* out) {
  const bool is_int = a->kind() == fb::AttrKind_Int, is_ints = a->kind() == fb::AttrKind_Ints;
  if ((!is_int && a->i_slope() != 0) || (!is_ints && a->ints_slope() != nullptr))
    return bad("%s has a slope field its kind does not use", at);
  AttrSlopes attr;
  attr.slopes.assign(is_ints && saved ? saved->ints.size() : 1, 0);
  if (is_int) {
    attr.slopes[0] = a->i_slope();
    if (!in_range(attr.slopes[0])) return bad("%s.i_slope = %lld is out of range", at,
                                              ll(attr.slopes[0]));
  } else if (is_ints) {
    UNIFIED_RETURN_IF_ERROR(read_slopes(a->ints_slope(), static_cast<uint32_t>(
        attr.slopes.size()), at, "ints_slope", attr.slopes.data()));
  }
  bool moves = false;
  for (int64_t s : attr.slopes) moves = moves || s != 0;
  if (!moves) return Status::ok();
  attr.name = a->name()->str();
  attr.saved = *saved;
  out->attrs.push_back(std::move(attr));
  return Status::ok();
}

Status read_step(const fb::Step* s, const BundleStep& saved, uint32_t i,
                 const BundleBatch& batch, StepSlopes* out) {
  char at[64];
  for (int side = 0; side < 2; ++side) {
    const auto* ops = side == 0 ? s->inputs() : s->outputs();
    const auto& operands = side == 0 ? saved.inputs : saved.outputs;
    auto& dest = side == 0 ? out->inputs : out->outputs;
    dest.resize(operands.size());
    for (uint32_t k = 0; k < operands.size(); ++k) {
      std::snprintf(at, sizeof at, "plan.steps[%u].%s[%u]", i, side ? "outputs" : "inputs", k);
      UNIFIED_RETURN_IF_ERROR(read_operand(ops->Get(k), operands[k], batch, at, &dest[k]));
    }
  }
  for (uint32_t k = 0; s->attrs() && k < s->attrs()->size(); ++k) {
    const fb::Attr* a = s->attrs()->Get(k);
    std::snprintf(at, sizeof at, "plan.steps[%u].attrs[%u]", i, k);
    UNIFIED_RETURN_IF_ERROR(read_attr(a, saved.attrs.find(a->name()->str()), at, out));
  }
  return Status::ok();
}

Status read_buffers(const fb::BatchInfo* info, BundleBatch* batch) {
  const auto* buffers = info->buffers();
  for (uint32_t i = 0; buffers != nullptr && i < buffers->size(); ++i) {
    const fb::ArenaBuffer* b = buffers->Get(i);
    ArenaBufferSpec spec;
    spec.offset = b->offset();
    spec.nbytes = b->nbytes();
    spec.nbytes_slope = b->nbytes_slope();
    spec.first = b->first();
    spec.last = b->last();
    if (spec.offset < 0 || spec.offset > kMaxBytes || spec.nbytes < 0 ||
        spec.nbytes > kMaxBytes || !in_range(spec.nbytes_slope))
      return bad("plan.batch.buffers[%u] offset %lld, nbytes %lld or nbytes_slope %lld is out of "
                 "range", i, ll(spec.offset), ll(spec.nbytes), ll(spec.nbytes_slope));
    if (spec.first < 0 || spec.first > spec.last)
      return bad("plan.batch.buffers[%u] is live from step %d to %d", i, spec.first, spec.last);
    batch->buffers.push_back(spec);
  }
  return Status::ok();
}

// ---- evaluating ------------------------------------------------------------------------------
struct Evaluation {
  int64_t n = 0, d = 0, arena_bytes = 0;
  std::vector<int64_t> sizes, places;  // per arena buffer
};

// Step 2: places for `ev.sizes` (the walk of memory_plan.place, with insertion sorts: buffers
// are few, and std::sort would add kilobytes to a trimmed runtime).
void place_buffers(const std::vector<ArenaBufferSpec>& buffers, Evaluation* ev) {
  auto aligned = [](int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; };
  const std::vector<int64_t>& sizes = ev->sizes;
  const size_t count = buffers.size();
  auto before = [&](size_t a, size_t b) {  // the placing order: size desc, first asc, index
    if (sizes[a] != sizes[b]) return sizes[a] > sizes[b];
    return buffers[a].first != buffers[b].first ? buffers[a].first < buffers[b].first : a < b;
  };
  std::vector<size_t> order;
  for (size_t key = 0; key < count; ++key) {
    order.push_back(key);
    for (size_t j = order.size() - 1; j > 0 && before(order[j], order[j - 1]); --j)
      std::swap(order[j], order[j - 1]);
  }
  ev->places.assign(count, 0);
  ev->arena_bytes = 0;
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (size_t p = 0; p < count; ++p) {
    const size_t key = order[p];
    const int64_t size = aligned(sizes[key]);
    if (size == 0) continue;
    busy.clear();
    for (size_t q = 0; q < p; ++q) {
      const size_t o = order[q];
      if (sizes[o] == 0 || buffers[o].first > buffers[key].last ||
          buffers[key].first > buffers[o].last)
        continue;
      busy.emplace_back(ev->places[o], ev->places[o] + aligned(sizes[o]));
      for (size_t j = busy.size() - 1; j > 0 && busy[j] < busy[j - 1]; --j)
        std::swap(busy[j], busy[j - 1]);
    }
    int64_t offset = 0;
    for (const auto& span : busy) {
      if (offset + size <= span.first) break;
      if (span.second > offset) offset = span.second;
    }
    ev->places[key] = offset;
    if (offset + size > ev->arena_bytes) ev->arena_bytes = offset + size;
  }
}

// Dims of a spec or operand at N: each in [0, 2^48], and all of them under 2^48 bytes.
bool eval_dims(const int64_t* saved, const int64_t* slopes, size_t ndim, int64_t d,
               int64_t itemsize, int64_t* out, size_t* failed) {
  int64_t bytes = itemsize;
  for (size_t i = 0; i < ndim; ++i) {
    *failed = i;
    if (!affine(saved[i], slopes[i], d, 0, kMaxBytes, &out[i])) return false;
    if (out[i] != 0 && bytes > kMaxBytes / out[i]) return false;
    bytes *= out[i];
  }
  return true;
}

Status eval_specs(const std::vector<std::vector<int64_t>>& shapes,
                  const std::vector<std::vector<int64_t>>& slopes,
                  const std::vector<BundleTensorSpec>& specs, const Evaluation& ev,
                  const char* side, std::vector<std::vector<int64_t>>* out) {
  out->resize(shapes.size());
  for (size_t k = 0; k < shapes.size(); ++k) {
    (*out)[k].resize(shapes[k].size());
    size_t i = 0;
    if (!eval_dims(shapes[k].data(), slopes[k].data(), shapes[k].size(), ev.d,
                   dtype_itemsize(specs[k].spec.dtype), (*out)[k].data(), &i))
      return bad("at batch %lld, plan.%s[%zu].shape[%zu] = %lld + %lld * %lld is out of range",
                 ll(ev.n), side, k, i, ll(shapes[k][i]), ll(slopes[k][i]), ll(ev.d));
  }
  return Status::ok();
}

// The operand at N (storage, slot, dtype as saved), inside its arena buffer when it has one.
Status eval_operand(const OperandSlopes& s, const Evaluation& ev, size_t step, const char* side,
                    size_t k, Operand* op) {
  TensorView& v = op->view;
  const size_t ndim = static_cast<size_t>(v.ndim);
  size_t i = 0;
  const char* what = "shape";
  int64_t span = 0, lo = 0, hi = 0, offset = 0;
  bool ok = eval_dims(s.shape, s.shape_slope, ndim, ev.d, dtype_itemsize(v.dtype), v.shape, &i);
  for (i = ok ? 0 : i; ok && i < ndim; ++i) {
    what = "strides";
    int64_t& stride = v.strides[i];
    ok = affine(s.strides[i], s.strides_slope[i], ev.d, 1 - kMaxBytes, kMaxBytes - 1, &stride);
    const int64_t reach = v.shape[i] > 1 ? v.shape[i] - 1 : 0;
    const int64_t mag = stride < 0 ? -stride : stride;
    ok = ok && (reach == 0 || mag <= (kMaxBytes - span) / reach);
    span += ok ? mag * reach : 0;
    (stride < 0 ? lo : hi) += ok ? stride * reach : 0;
  }
  if (ok) {
    what = "byte_offset";
    ok = affine(s.offset, s.offset_slope, ev.d, 0, kMaxBytes, &offset);
  }
  if (!ok)
    return bad("at batch %lld, plan.steps[%zu].%s[%zu].%s is out of range (it moves with the "
               "batch beyond 2^48 or below 0)", ll(ev.n), step, side, k, what);
  const int64_t item = dtype_itemsize(v.dtype);
  if (s.buffer >= 0 && v.numel() > 0) {
    const int64_t size = ev.sizes[static_cast<size_t>(s.buffer)];
    if (offset + lo * item < 0 || offset + (hi + 1) * item > size)
      return bad("at batch %lld, plan.steps[%zu].%s[%zu] spans bytes [%lld, %lld) of its arena "
                 "buffer %d of %lld bytes", ll(ev.n), step, side, k, ll(offset + lo * item),
                 ll(offset + (hi + 1) * item), s.buffer, ll(size));
  }
  op->byte_offset = s.buffer >= 0 ? ev.places[static_cast<size_t>(s.buffer)] + offset : offset;
  if (side[0] == 'o' && !v.is_contiguous())
    return bad("at batch %lld, plan.steps[%zu].outputs[%zu] is not C-contiguous", ll(ev.n),
               step, k);
  return Status::ok();
}

// One step at N: operands (from the step as loaded) and the attrs that move.
Status eval_step(const BundleStep& now, const StepSlopes& s, const Evaluation& ev, size_t i,
                 std::vector<Operand>* ins, std::vector<Operand>* outs, Attrs* attrs) {
  *ins = now.inputs;
  *outs = now.outputs;
  for (size_t k = 0; k < ins->size(); ++k)
    UNIFIED_RETURN_IF_ERROR(eval_operand(s.inputs[k], ev, i, "inputs", k, &(*ins)[k]));
  for (size_t k = 0; k < outs->size(); ++k)
    UNIFIED_RETURN_IF_ERROR(eval_operand(s.outputs[k], ev, i, "outputs", k, &(*outs)[k]));
  *attrs = now.attrs;
  for (const AttrSlopes& a : s.attrs) {
    AttrValue value = a.saved;
    int64_t* values = value.kind == AttrValue::Kind::kInt ? &value.i : value.ints.data();
    for (size_t j = 0; j < a.slopes.size(); ++j)
      if (!affine(values[j], a.slopes[j], ev.d, -kMaxBytes, kMaxBytes, &values[j]))
        return bad("at batch %lld, plan.steps[%zu].attrs['%s'] is out of range", ll(ev.n), i,
                   a.name.c_str());
    attrs->set(a.name, std::move(value));
  }
  return Status::ok();
}

// Steps 1-3 at batch n. With `plan` null it only checks (load time, n = 1 and n = max).
Status evaluate(LoadedBundle* b, int64_t n, std::unique_ptr<Plan>* plan) {
  const BundleBatch& batch = b->batch;
  Evaluation ev;
  ev.n = n;
  ev.d = n - batch.saved;
  std::vector<std::vector<int64_t>> in_shapes, out_shapes;
  UNIFIED_RETURN_IF_ERROR(eval_specs(batch.input_shapes, batch.input_slopes, b->inputs, ev,
                                     "inputs", &in_shapes));
  UNIFIED_RETURN_IF_ERROR(eval_specs(batch.output_shapes, batch.output_slopes, b->outputs, ev,
                                     "outputs", &out_shapes));
  ev.sizes.resize(batch.buffers.size());
  for (size_t g = 0; g < ev.sizes.size(); ++g) {
    const ArenaBufferSpec& buf = batch.buffers[g];
    if (!affine(buf.nbytes, buf.nbytes_slope, ev.d, 0, kMaxBytes, &ev.sizes[g]))
      return bad("at batch %lld, plan.batch.buffers[%zu].nbytes = %lld + %lld * %lld is out of "
                 "range", ll(n), g, ll(buf.nbytes), ll(buf.nbytes_slope), ll(ev.d));
  }
  place_buffers(batch.buffers, &ev);
  if (ev.arena_bytes > kMaxBytes)
    return bad("at batch %lld the arena needs %lld bytes, more than 2^48", ll(n),
               ll(ev.arena_bytes));
  std::unique_ptr<Plan> built;
  if (plan != nullptr) {
    std::vector<SlotSpec> ins, outs;
    for (size_t k = 0; k < b->inputs.size(); ++k)
      ins.push_back({b->inputs[k].spec.dtype, in_shapes[k]});
    for (size_t k = 0; k < b->outputs.size(); ++k)
      outs.push_back({b->outputs[k].spec.dtype, out_shapes[k]});
    built.reset(new Plan());
    UNIFIED_RETURN_IF_ERROR(built->init(ev.arena_bytes, std::move(ins), {}, std::move(outs)));
    for (const BundleTensor& c : b->consts) {
      int slot = -1;
      UNIFIED_RETURN_IF_ERROR(built->add_const_view(c.spec, c.data, &slot));
    }
  }
  std::vector<Operand> ins, outs;
  Attrs attrs;
  KernelRegistry& reg = all_kernels();
  for (size_t i = 0; i < b->steps.size(); ++i) {
    UNIFIED_RETURN_IF_ERROR(eval_step(b->steps[i], batch.steps[i], ev, i, &ins, &outs, &attrs));
    if (plan == nullptr) continue;
    Status st = built->add_step(reg.find(b->steps[i].kernel), b->steps[i].label, ins, outs,
                                attrs);
    if (!st.is_ok()) return bad("at batch %lld, plan.steps[%zu]: %s", ll(n), i,
                                st.message().c_str());
  }
  if (plan == nullptr) return Status::ok();
  // complete: commit (the same evaluation again cannot fail), shapes rewritten in place so
  // names and shape pointers handed out stay valid
  for (size_t i = 0; i < b->steps.size(); ++i) {
    BundleStep& step = b->steps[i];
    eval_step(step, batch.steps[i], ev, i, &ins, &outs, &attrs);
    step.inputs.swap(ins);
    step.outputs.swap(outs);
    std::swap(step.attrs, attrs);
  }
  for (size_t k = 0; k < b->inputs.size(); ++k)
    for (size_t i = 0; i < in_shapes[k].size(); ++i)
      b->inputs[k].spec.shape[i] = in_shapes[k][i];
  for (size_t k = 0; k < b->outputs.size(); ++k)
    for (size_t i = 0; i < out_shapes[k].size(); ++i)
      b->outputs[k].spec.shape[i] = out_shapes[k][i];
  b->arena_bytes = ev.arena_bytes;
  *plan = std::move(built);
  return Status::ok();
}

#endif  // !UNIFIED_NO_DYNAMIC_BATCH

}  // namespace

#if defined(UNIFIED_NO_DYNAMIC_BATCH)
// A runtime trimmed for fixed-batch bundles (about 20 KB smaller) refuses format 2 by name.
Status read_bundle_batch(const fb::Plan*, LoadedBundle*) {
  return Status(StatusCode::kInvalidArgument, "bundle: the model has a dynamic batch (format "
                "2), but this runtime was built without dynamic batch support "
                "(UNIFIED_NO_DYNAMIC_BATCH): build the runtime for this bundle");
}

Status bundle_set_batch(LoadedBundle*, int64_t) {
  return Status(StatusCode::kInvalidArgument, "bundle: this runtime runs bundles at their "
                "saved shapes only (built with UNIFIED_NO_DYNAMIC_BATCH)");
}
#else
Status read_bundle_batch(const fb::Plan* p, LoadedBundle* out) {
  const fb::BatchInfo* info = p->batch();
  if (info == nullptr) return bad("format version 2 needs plan.batch (the dynamic batch)");
  BundleBatch& batch = out->batch;
  batch = BundleBatch();
  if (info->saved() < 1 || info->saved() > info->max() || info->max() > kMaxBatch)
    return bad("plan.batch saved = %lld, max = %lld: need 1 <= saved <= max <= %lld",
               ll(info->saved()), ll(info->max()), ll(kMaxBatch));
  UNIFIED_RETURN_IF_ERROR(read_buffers(info, &batch));
  UNIFIED_RETURN_IF_ERROR(read_specs(p->inputs(), out->inputs, "inputs", &batch.input_shapes,
                                     &batch.input_slopes));
  UNIFIED_RETURN_IF_ERROR(read_specs(p->outputs(), out->outputs, "outputs", &batch.output_shapes,
                                     &batch.output_slopes));
  batch.steps.resize(out->steps.size());
  for (uint32_t i = 0; i < out->steps.size(); ++i)
    UNIFIED_RETURN_IF_ERROR(read_step(p->steps()->Get(i), out->steps[i], i, batch,
                                      &batch.steps[i]));
  batch.saved = batch.current = info->saved();  // dynamic() from here on
  batch.max = info->max();
  // every value is affine in N, so its extremes are at 1 and max (a run re-checks in full)
  UNIFIED_RETURN_IF_ERROR(evaluate(out, 1, nullptr));
  return evaluate(out, batch.max, nullptr);
}

Status bundle_set_batch(LoadedBundle* bundle, int64_t n) {
  BundleBatch& batch = bundle->batch;
  if (bundle->plan == nullptr) return bad("not loaded");
  if (!batch.dynamic())
    return bad("this bundle runs at its saved shapes only (it was exported without "
               "dynamic_batch=True); batch %lld was asked for", ll(n));
  if (n < 1 || n > batch.max)
    return bad("batch %lld is outside 1..%lld (the largest batch this bundle was exported for: "
               "save_bundle max_batch)", ll(n), ll(batch.max));
  if (n == batch.current) return Status::ok();
  if (bundle->busy->exchange(true))
    return bad("cannot change the batch while the model runs (one call at a time)");
  std::unique_ptr<Plan> plan;
  Status st = evaluate(bundle, n, &plan);
  if (st.is_ok()) {
    bundle->plan = std::move(plan);
    batch.current = n;
  }
  bundle->busy->store(false);
  return st;
}

#endif  // UNIFIED_NO_DYNAMIC_BATCH

}  // namespace unified
