// Checking a bundle file and building its Plan (bundle_reader.h gives the order of checks).
// Every failure returns a Status whose message starts with "bundle: " and names the byte range
// (preamble, data section) or the field path (e.g. "plan.steps[3].inputs[1].shape").
#include "bundle_reader.h"

#include <cstring>
#include <unordered_set>

#include "bundle_batch.h"
#include "crc32.h"
#include "unified/bundle_generated.h"
#include "unified/registry.h"

namespace unified {

namespace {

namespace fb = ::unified::fbs;
using FbString = flatbuffers::String;
template <class T>
using FbVector = flatbuffers::Vector<T>;
template <class T>
using FbTables = flatbuffers::Vector<flatbuffers::Offset<T>>;

constexpr int64_t kMaxBytes = int64_t{1} << 48;  // any tensor, arena, offset or stride span
constexpr uint64_t kAlign = 64;

#define BUNDLE_ENSURE(cond, ...) UNIFIED_ENSURE(cond, "bundle: ", __VA_ARGS__)

uint32_t read_u32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint64_t read_u64(const uint8_t* p) {
  return uint64_t{read_u32(p)} | uint64_t{read_u32(p + 4)} << 32;
}

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// True when `s` is well-formed UTF-8 as Python's strict decoder reads it (no overlong forms,
// no surrogates, nothing above U+10FFFF): Python reads every string of the file as str.
bool valid_utf8(const char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    if (c >= 0xC2 && c <= 0xDF) extra = 1;
    else if (c >= 0xE0 && c <= 0xEF) extra = 2;
    else if (c >= 0xF0 && c <= 0xF4) extra = 3;
    else if (c >= 0x80) return false;
    if (extra > n - i - 1) return false;
    for (size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    const auto next = extra ? static_cast<unsigned char>(s[i + 1]) : 0;
    if ((c == 0xE0 && next < 0xA0) || (c == 0xED && next >= 0xA0) ||
        (c == 0xF0 && next < 0x90) || (c == 0xF4 && next >= 0x90))
      return false;
    i += extra + 1;
  }
  return true;
}

Status read_string(const FbString* s, const std::string& field, bool required, std::string* out) {
  if (s == nullptr) {
    BUNDLE_ENSURE(!required, field, " is missing");
    out->clear();
    return Status::ok();
  }
  BUNDLE_ENSURE(valid_utf8(s->c_str(), s->size()), field, " is not valid UTF-8");
  out->assign(s->c_str(), s->size());
  return Status::ok();
}

Status read_dtype(fb::DType d, const std::string& field, DType* out) {
  const int v = static_cast<int>(d);
  BUNDLE_ENSURE(v >= fb::DType_MIN && v <= fb::DType_MAX, field, " has unknown dtype code ", v,
                " (known: 0..", static_cast<int>(fb::DType_MAX), ")");
  *out = static_cast<DType>(v);
  return Status::ok();
}

// FlatBuffers' Verifier (2.0.8) checks a vector's length field but not that its 8-byte elements
// are aligned; reading a misaligned one is undefined behaviour, so such a file is refused
// (writers align every vector to its element size). Found by mobile/fuzz/fuzz_bundle.
template <class T>
Status check_aligned(const FbVector<T>* v, const std::string& field) {
  BUNDLE_ENSURE(v == nullptr || reinterpret_cast<uintptr_t>(v->Data()) % alignof(T) == 0, field,
                " is not aligned to ", alignof(T), " bytes");
  return Status::ok();
}

// A shape: at most kMaxDims non-negative sizes whose element count times `itemsize` stays
// under kMaxBytes (so no later product overflows).
Status read_shape(const FbVector<int64_t>* dims, int64_t itemsize, const std::string& field,
                  std::vector<int64_t>* out) {
  out->clear();
  if (dims == nullptr) return Status::ok();  // a scalar
  UNIFIED_RETURN_IF_ERROR(check_aligned(dims, field));
  BUNDLE_ENSURE(dims->size() <= static_cast<uint32_t>(kMaxDims), field, " has ", dims->size(),
                " dims (at most ", kMaxDims, ")");
  int64_t bytes = itemsize;
  for (uint32_t i = 0; i < dims->size(); ++i) {
    const int64_t d = dims->Get(i);
    BUNDLE_ENSURE(d >= 0, field, "[", i, "] is negative (", d, ")");
    BUNDLE_ENSURE(d == 0 || bytes <= kMaxBytes / d, field, " is too large: more than ", kMaxBytes,
                  " bytes");
    bytes *= d;
    out->push_back(d);
  }
  return Status::ok();
}

Status read_spec(DType dtype, const FbVector<int64_t>* dims, const std::string& field,
                 SlotSpec* out) {
  out->dtype = dtype;
  return read_shape(dims, dtype_itemsize(dtype), field + ".shape", &out->shape);
}

Status read_tensor_spec(const fb::TensorSpec* t, const std::string& field, BundleTensorSpec* out) {
  UNIFIED_RETURN_IF_ERROR(read_string(t->name(), field + ".name", true, &out->name));
  DType dtype = DType::kFloat32;
  UNIFIED_RETURN_IF_ERROR(read_dtype(t->dtype(), field + ".dtype", &dtype));
  UNIFIED_RETURN_IF_ERROR(read_spec(dtype, t->shape(), field, &out->spec));
  const auto* axes = t->dynamic_axes();
  const auto* names = t->dynamic_names();
  const uint32_t n = axes ? axes->size() : 0;
  BUNDLE_ENSURE((names ? names->size() : 0) == n, field, " has ", n, " dynamic_axes but ",
                names ? names->size() : 0, " dynamic_names");
  for (uint32_t i = 0; i < n; ++i) {
    const int32_t axis = axes->Get(i);
    BUNDLE_ENSURE(axis >= 0 && axis < static_cast<int32_t>(out->spec.shape.size()), field,
                  ".dynamic_axes[", i, "] = ", axis, " is not an axis of ", out->spec.str());
    std::string name;
    UNIFIED_RETURN_IF_ERROR(read_string(names->Get(i), field + ".dynamic_names[" +
                                        std::to_string(i) + "]", true, &name));
    out->dynamic_axes.push_back(axis);
    out->dynamic_names.push_back(std::move(name));
  }
  return Status::ok();
}

Status read_tensor_specs(const FbTables<fb::TensorSpec>* specs, const std::string& field,
                         std::vector<BundleTensorSpec>* out) {
  std::unordered_set<std::string> seen;
  for (uint32_t i = 0; specs != nullptr && i < specs->size(); ++i) {
    BundleTensorSpec spec;
    const std::string at = field + "[" + std::to_string(i) + "]";
    UNIFIED_RETURN_IF_ERROR(read_tensor_spec(specs->Get(i), at, &spec));
    BUNDLE_ENSURE(seen.insert(spec.name).second, at, ".name '", spec.name, "' is used twice");
    out->push_back(std::move(spec));
  }
  return Status::ok();
}

// A tensor in the data section: dtype, shape, nbytes = itemsize * numel, and a 64-byte aligned
// range inside the section.
Status read_data_tensor(const fb::DataTensor* t, const uint8_t* section, uint64_t section_bytes,
                        const std::string& field, BundleTensor* out) {
  UNIFIED_RETURN_IF_ERROR(read_string(t->name(), field + ".name", false, &out->name));
  DType dtype = DType::kFloat32;
  UNIFIED_RETURN_IF_ERROR(read_dtype(t->dtype(), field + ".dtype", &dtype));
  UNIFIED_RETURN_IF_ERROR(read_spec(dtype, t->shape(), field, &out->spec));
  const uint64_t nbytes = static_cast<uint64_t>(out->spec.nbytes());
  BUNDLE_ENSURE(t->nbytes() == nbytes, field, ".nbytes is ", t->nbytes(), " but ",
                out->spec.str(), " needs ", nbytes);
  BUNDLE_ENSURE(t->offset() % kAlign == 0, field, ".offset ", t->offset(),
                " is not a multiple of ", kAlign);
  BUNDLE_ENSURE(t->offset() <= section_bytes && nbytes <= section_bytes - t->offset(), field,
                " bytes [", t->offset(), ", +", nbytes, ") lie outside the data section of ",
                section_bytes, " bytes");
  out->data = section + t->offset();
  return Status::ok();
}

Status read_operand(const fb::Operand* o, const std::string& field, Operand* out) {
  const int storage = static_cast<int>(o->storage());
  BUNDLE_ENSURE(storage >= fb::Storage_MIN && storage <= fb::Storage_MAX, field,
                ".storage has unknown code ", storage);
  out->storage = static_cast<Storage>(storage);
  out->slot = o->slot();
  BUNDLE_ENSURE(o->byte_offset() >= 0 && o->byte_offset() <= kMaxBytes, field, ".byte_offset ",
                o->byte_offset(), " is out of range");
  out->byte_offset = o->byte_offset();
  TensorView& v = out->view;
  UNIFIED_RETURN_IF_ERROR(read_dtype(o->dtype(), field + ".dtype", &v.dtype));
  std::vector<int64_t> shape;
  UNIFIED_RETURN_IF_ERROR(
      read_shape(o->shape(), dtype_itemsize(v.dtype), field + ".shape", &shape));
  const auto* strides = o->strides();
  UNIFIED_RETURN_IF_ERROR(check_aligned(strides, field + ".strides"));
  const size_t n = strides ? strides->size() : 0;
  BUNDLE_ENSURE(n == shape.size(), field, " has ", shape.size(), " dims but ", n, " strides");
  v.ndim = static_cast<int32_t>(n);
  int64_t span = 0;  // sum of |stride| * (size - 1): the elements the view spans
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = strides->Get(static_cast<uint32_t>(i));
    const int64_t reach = shape[i] > 1 ? shape[i] - 1 : 0;
    BUNDLE_ENSURE(s > -kMaxBytes && s < kMaxBytes && (reach == 0 || (s < 0 ? -s : s) <=
                  (kMaxBytes - span) / reach), field, ".strides[", i, "] = ", s,
                  " is out of range");
    span += (s < 0 ? -s : s) * reach;
    v.shape[i] = shape[i];
    v.strides[i] = s;
  }
  return Status::ok();
}

Status read_operands(const FbTables<fb::Operand>* ops, const std::string& field, bool outputs,
                     std::vector<Operand>* out) {
  const uint32_t n = ops ? ops->size() : 0;
  BUNDLE_ENSURE(n <= 64, field, " has ", n, " operands (at most 64)");
  for (uint32_t i = 0; i < n; ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    Operand op;
    UNIFIED_RETURN_IF_ERROR(read_operand(ops->Get(i), at, &op));
    // every kernel writes a fresh C-contiguous buffer (lowering never plans strided outputs)
    BUNDLE_ENSURE(!outputs || op.view.is_contiguous(), at, " ", op.view.shape_str(),
                  " is not C-contiguous");
    out->push_back(op);
  }
  return Status::ok();
}

Status read_attr(const fb::Attr* a, const std::string& field, std::string* name, AttrValue* out) {
  UNIFIED_RETURN_IF_ERROR(read_string(a->name(), field + ".name", true, name));
  const int kind = static_cast<int>(a->kind());
  BUNDLE_ENSURE(kind >= fb::AttrKind_MIN && kind <= fb::AttrKind_MAX, field, " ('", *name,
                "').kind has unknown code ", kind);
  out->kind = static_cast<AttrValue::Kind>(kind);
  out->i = a->i();
  out->f = a->f();
  UNIFIED_RETURN_IF_ERROR(check_aligned(a->ints(), field + ".ints"));
  UNIFIED_RETURN_IF_ERROR(check_aligned(a->floats(), field + ".floats"));
  if (a->ints()) out->ints.assign(a->ints()->begin(), a->ints()->end());
  if (a->floats()) out->floats.assign(a->floats()->begin(), a->floats()->end());
  return read_string(a->s(), field + ".s", false, &out->s);
}

Status read_step(const fb::Step* s, const std::string& field,
                 const std::unordered_set<std::string>& kernels, BundleStep* out) {
  UNIFIED_RETURN_IF_ERROR(read_string(s->kernel(), field + ".kernel", true, &out->kernel));
  BUNDLE_ENSURE(kernels.count(out->kernel), field, " calls kernel '", out->kernel,
                "', which is not in plan.kernels");
  UNIFIED_RETURN_IF_ERROR(read_string(s->op(), field + ".op", false, &out->op));
  UNIFIED_RETURN_IF_ERROR(read_string(s->label(), field + ".label", false, &out->label));
  UNIFIED_RETURN_IF_ERROR(read_operands(s->inputs(), field + ".inputs", false, &out->inputs));
  UNIFIED_RETURN_IF_ERROR(read_operands(s->outputs(), field + ".outputs", true, &out->outputs));
  std::unordered_set<std::string> names;
  for (uint32_t i = 0; s->attrs() && i < s->attrs()->size(); ++i) {
    std::string name;
    AttrValue value;
    const std::string at = field + ".attrs[" + std::to_string(i) + "]";
    UNIFIED_RETURN_IF_ERROR(read_attr(s->attrs()->Get(i), at, &name, &value));
    BUNDLE_ENSURE(names.insert(name).second, at, ".name '", name, "' is used twice");
    out->attrs.set(name, std::move(value));
  }
  return Status::ok();
}

// Step 1: the preamble. Returns the FlatBuffer's size and the format version.
Status check_preamble(const uint8_t* data, size_t size, uint64_t* fb_size,
                      uint32_t* version_out) {
  BUNDLE_ENSURE(size >= kBundlePreambleBytes, "the file has ", size, " bytes, less than the ",
                kBundlePreambleBytes, "-byte preamble (truncated, or not a bundle)");
  BUNDLE_ENSURE(std::memcmp(data, "UFB1", 4) == 0, "bytes 0..4 (magic) are not \"UFB1\": not a "
                "unified bundle file");
  const uint32_t version = read_u32(data + 4);
  *version_out = version;
  BUNDLE_ENSURE(version >= 1 && version <= kBundleFormatVersion, "bytes 4..8 (format version) = ",
                version, ", this reader reads versions 1..", kBundleFormatVersion,
                version > kBundleFormatVersion ? " (written by a newer unified: upgrade)" : "");
  *fb_size = read_u64(data + 8);
  const uint64_t room = size - kBundlePreambleBytes;
  BUNDLE_ENSURE(*fb_size >= 8 && *fb_size <= room && *fb_size < FLATBUFFERS_MAX_BUFFER_SIZE,
                "bytes 8..16 (flatbuffer size) = ", *fb_size, " but the file has ", room,
                " bytes after the preamble (truncated?)");
  for (size_t i = 20; i < kBundlePreambleBytes; ++i)
    BUNDLE_ENSURE(data[i] == 0, "byte ", i, " (reserved) is ", int{data[i]}, ", not 0");
  const uint32_t want = read_u32(data + 16);
  const uint32_t have = crc32(data + kBundlePreambleBytes, static_cast<size_t>(*fb_size));
  BUNDLE_ENSURE(want == have, "bytes 64..", kBundlePreambleBytes + *fb_size,
                " (flatbuffer) have CRC-32 ", have, " but bytes 16..20 record ", want,
                " (the file is corrupted)");
  return Status::ok();
}

// Step 3: the data section (after the FlatBuffer, padded with zeros to 64 bytes).
Status check_data_section(const uint8_t* data, size_t size, uint64_t fb_end,
                          const fb::DataSection* section) {
  const uint64_t start = align_up(fb_end);
  BUNDLE_ENSURE(section->offset() == start, "data.offset = ", section->offset(),
                " but the data section starts at byte ", start);
  BUNDLE_ENSURE(start <= size && section->nbytes() == size - start, "data.nbytes = ",
                section->nbytes(), " but the file has ", size > start ? size - start : 0,
                " bytes from byte ", start, " (truncated or extended)");
  for (uint64_t i = fb_end; i < start; ++i)
    BUNDLE_ENSURE(data[i] == 0, "byte ", i, " (padding before the data section) is not 0");
  const uint32_t have = crc32(data + start, static_cast<size_t>(section->nbytes()));
  BUNDLE_ENSURE(have == section->crc32(), "bytes ", start, "..", size, " (data section) have "
                "CRC-32 ", have, " but data.crc32 records ", section->crc32(),
                " (the file is corrupted)");
  return Status::ok();
}

Status read_references(const fb::Bundle* root, const uint8_t* section, uint64_t section_bytes,
                       LoadedBundle* out) {
  const auto* refs = root->references();
  for (uint32_t r = 0; refs != nullptr && r < refs->size(); ++r) {
    BundleReference ref;
    const fb::Reference* fr = refs->Get(r);
    for (int side = 0; side < 2; ++side) {
      const auto* tensors = side == 0 ? fr->inputs() : fr->outputs();
      const auto& specs = side == 0 ? out->inputs : out->outputs;
      auto& dest = side == 0 ? ref.inputs : ref.outputs;
      const std::string field = "references[" + std::to_string(r) + "]." +
                                (side == 0 ? "inputs" : "outputs");
      const uint32_t n = tensors ? tensors->size() : 0;
      BUNDLE_ENSURE(n == specs.size(), field, " has ", n, " tensors, the model ", specs.size());
      for (uint32_t i = 0; i < n; ++i) {
        BundleTensor t;
        const std::string at = field + "[" + std::to_string(i) + "]";
        UNIFIED_RETURN_IF_ERROR(read_data_tensor(tensors->Get(i), section, section_bytes, at, &t));
        BUNDLE_ENSURE(t.spec.dtype == specs[i].spec.dtype && t.spec.shape == specs[i].spec.shape,
                      at, " is ", t.spec.str(), " but ", specs[i].name, " is ",
                      specs[i].spec.str());
        dest.push_back(std::move(t));
      }
    }
    out->references.push_back(std::move(ref));
  }
  return Status::ok();
}

Status read_metadata(const fb::Metadata* m, BundleMetadata* out) {
  if (m == nullptr) return Status::ok();
  UNIFIED_RETURN_IF_ERROR(read_string(m->framework_version(), "metadata.framework_version",
                                      false, &out->framework_version));
  UNIFIED_RETURN_IF_ERROR(read_string(m->created_utc(), "metadata.created_utc", false,
                                      &out->created_utc));
  UNIFIED_RETURN_IF_ERROR(read_string(m->content_hash(), "metadata.content_hash", false,
                                      &out->content_hash));
  UNIFIED_RETURN_IF_ERROR(read_string(m->name(), "metadata.name", false, &out->name));
  for (uint32_t i = 0; m->user() && i < m->user()->size(); ++i) {
    const std::string at = "metadata.user[" + std::to_string(i) + "]";
    std::string key, value;
    UNIFIED_RETURN_IF_ERROR(read_string(m->user()->Get(i)->key(), at + ".key", true, &key));
    UNIFIED_RETURN_IF_ERROR(read_string(m->user()->Get(i)->value(), at + ".value", false, &value));
    out->user.emplace_back(std::move(key), std::move(value));
  }
  return Status::ok();
}

// Step 4 for the plan: kernels, specs, consts (in place), steps; then builds the Plan.
Status read_plan(const fb::Plan* p, const uint8_t* section, uint64_t section_bytes,
                 LoadedBundle* out) {
  KernelRegistry& reg = all_kernels();
  std::unordered_set<std::string> kernels;
  for (uint32_t i = 0; p->kernels() && i < p->kernels()->size(); ++i) {
    std::string name;
    const std::string at = "plan.kernels[" + std::to_string(i) + "]";
    UNIFIED_RETURN_IF_ERROR(read_string(p->kernels()->Get(i), at, true, &name));
    BUNDLE_ENSURE(reg.find(name) >= 0, "the model needs kernel '", name, "' (", at,
                  "), which this build does not have");
    BUNDLE_ENSURE(kernels.insert(name).second, at, " '", name, "' is listed twice");
    out->kernels.push_back(std::move(name));
  }
  UNIFIED_RETURN_IF_ERROR(read_tensor_specs(p->inputs(), "plan.inputs", &out->inputs));
  UNIFIED_RETURN_IF_ERROR(read_tensor_specs(p->outputs(), "plan.outputs", &out->outputs));
  BUNDLE_ENSURE(p->arena_bytes() >= 0 && p->arena_bytes() <= kMaxBytes, "plan.arena_bytes = ",
                p->arena_bytes(), " is out of range");
  out->arena_bytes = p->arena_bytes();
  std::vector<SlotSpec> ins, outs;
  for (const auto& s : out->inputs) ins.push_back(s.spec);
  for (const auto& s : out->outputs) outs.push_back(s.spec);
  out->plan = std::make_unique<Plan>();
  Status st = out->plan->init(out->arena_bytes, std::move(ins), {}, std::move(outs));
  if (!st.is_ok()) return make_status(StatusCode::kInvalidArgument, "bundle: ", st.message());
  for (uint32_t i = 0; p->consts() && i < p->consts()->size(); ++i) {
    BundleTensor c;
    UNIFIED_RETURN_IF_ERROR(read_data_tensor(p->consts()->Get(i), section, section_bytes,
                                             "plan.consts[" + std::to_string(i) + "]", &c));
    int slot = -1;
    UNIFIED_RETURN_IF_ERROR(out->plan->add_const_view(c.spec, c.data, &slot));
    out->consts.push_back(std::move(c));
  }
  for (uint32_t i = 0; p->steps() && i < p->steps()->size(); ++i) {
    BundleStep step;
    const std::string at = "plan.steps[" + std::to_string(i) + "]";
    UNIFIED_RETURN_IF_ERROR(read_step(p->steps()->Get(i), at, kernels, &step));
    Status added = out->plan->add_step(reg.find(step.kernel), step.label, step.inputs,
                                       step.outputs, step.attrs);
    if (!added.is_ok())
      return make_status(StatusCode::kInvalidArgument, "bundle: ", at, " (kernel '", step.kernel,
                         "'): ", added.message());
    out->steps.push_back(std::move(step));
  }
  return Status::ok();
}

}  // namespace

Status load_bundle(const uint8_t* data, size_t size, LoadedBundle* out, bool copy) {
  *out = LoadedBundle();
  BUNDLE_ENSURE(data != nullptr || size == 0, "no data");
  if (copy || reinterpret_cast<uintptr_t>(data) % kAlign != 0) {
    Status st = out->owned.allocate(static_cast<int64_t>(size));
    if (!st.is_ok()) return make_status(StatusCode::kInvalidArgument, "bundle: ", st.message());
    if (size > 0) std::memcpy(out->owned.data(), data, size);
    data = reinterpret_cast<const uint8_t*>(out->owned.data());
  }
  out->bytes = data;
  out->size = size;
  uint64_t fb_size = 0;
  uint32_t version = 0;
  UNIFIED_RETURN_IF_ERROR(check_preamble(data, size, &fb_size, &version));
  const uint8_t* fb_data = data + kBundlePreambleBytes;
  flatbuffers::Verifier verifier(fb_data, static_cast<size_t>(fb_size));
  BUNDLE_ENSURE(fb::BundleBufferHasIdentifier(fb_data), "bytes 68..72 (flatbuffer identifier) "
                "are not \"UFB1\"");
  BUNDLE_ENSURE(fb::VerifyBundleBuffer(verifier), "bytes 64..", kBundlePreambleBytes + fb_size,
                " (flatbuffer) fail verification: an offset or size points outside the buffer, "
                "or a required field is missing");
  const fb::Bundle* root = fb::GetBundle(fb_data);
  const uint64_t fb_end = kBundlePreambleBytes + fb_size;
  UNIFIED_RETURN_IF_ERROR(check_data_section(data, size, fb_end, root->data()));
  const uint8_t* section = data + root->data()->offset();
  const uint64_t section_bytes = root->data()->nbytes();
  out->format_version = version;
  UNIFIED_RETURN_IF_ERROR(read_plan(root->plan(), section, section_bytes, out));
  if (version >= 2) {
    UNIFIED_RETURN_IF_ERROR(read_bundle_batch(root->plan(), out));
  } else {
    BUNDLE_ENSURE(root->plan()->batch() == nullptr, "plan.batch (a dynamic batch) is present, but "
                  "bytes 4..8 say format version 1, which has none");
  }
  UNIFIED_RETURN_IF_ERROR(read_metadata(root->metadata(), &out->metadata));
  UNIFIED_RETURN_IF_ERROR(read_references(root, section, section_bytes, out));
  return read_string(root->out_structure(), "out_structure", false, &out->out_structure);
}

Status bundle_run(LoadedBundle* bundle, const TensorView* inputs, int num_inputs,
                  const TensorView* outputs, int num_outputs) {
  UNIFIED_ENSURE(!bundle->busy->exchange(true), "bundle: already running or changing its "
                 "batch (one call at a time)");
  struct Release {
    std::atomic<bool>* flag;
    ~Release() { flag->store(false); }
  } release{bundle->busy.get()};
  Plan* plan = bundle->plan.get();
  UNIFIED_ENSURE(plan != nullptr, "bundle: not loaded");
  UNIFIED_ENSURE(num_inputs == plan->num_slots(Storage::kInput), "bundle: the model takes ",
                 plan->num_slots(Storage::kInput), " inputs, got ", num_inputs);
  UNIFIED_ENSURE(num_outputs == plan->num_slots(Storage::kOutput), "bundle: the model gives ",
                 plan->num_slots(Storage::kOutput), " outputs, got ", num_outputs);
  for (int k = 0; k < num_inputs; ++k)
    UNIFIED_RETURN_IF_ERROR(plan->bind(Storage::kInput, k, inputs[k]));
  for (int k = 0; k < num_outputs; ++k)
    UNIFIED_RETURN_IF_ERROR(plan->bind(Storage::kOutput, k, outputs[k]));
  return plan->run();
}

}  // namespace unified
