// The C API (mobile/include/unified_rt.h) over the bundle reader and executor of core_cpp/: a
// urt_model owns the bundle's bytes (64-byte aligned, so the weights are used in place), the
// LoadedBundle with its Plan, and one buffer per input and output. Every entry point returns a
// status and records the message for urt_last_error(); no exception crosses the C boundary.
// The kernels a build has come from its all_kernels() (runtime/ops_all.cpp or a generated
// ops_used.cpp), so a trimmed build refuses, at load, a bundle needing another kernel.
// Messages are formatted printf-style: a few kilobytes smaller than std::string chains, which
// matters in a trimmed runtime.
#include "unified_rt.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "../../core_cpp/bundle/bundle_batch.h"
#include "../../core_cpp/bundle/bundle_reader.h"
#include "unified/registry.h"

using unified::Arena;
using unified::Status;
using unified::TensorView;

// One buffer per input and output, remade when the batch changes.
struct ModelBuffers {
  std::vector<Arena> inputs, outputs;
  std::vector<TensorView> input_views, output_views;
};

struct urt_model : ModelBuffers {
  Arena file;  // the bundle's bytes
  unified::LoadedBundle bundle;
};

namespace {

thread_local std::string g_last_error;

__attribute__((format(printf, 2, 3))) urt_status fail(urt_status code, const char* format, ...) {
  va_list args, copy;
  va_start(args, format);
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  g_last_error.assign(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(&g_last_error[0], static_cast<size_t>(n) + 1, format, args);
  va_end(args);
  return code;
}

TensorView contiguous_view(const unified::SlotSpec& spec, void* data) {
  TensorView v;
  v.data = data;
  v.dtype = spec.dtype;
  v.ndim = static_cast<int32_t>(spec.shape.size());
  int64_t stride = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    v.shape[i] = spec.shape[i];
    v.strides[i] = stride;
    stride *= spec.shape[i];
  }
  return v;
}

// Buffers for every input and output (inputs zeroed), once per model and batch: runs allocate
// nothing.
urt_status allocate_buffers(const unified::LoadedBundle& bundle, ModelBuffers* m) {
  for (int pass = 0; pass < 2; ++pass) {
    const auto& specs = pass == 0 ? bundle.inputs : bundle.outputs;
    auto& buffers = pass == 0 ? m->inputs : m->outputs;
    auto& views = pass == 0 ? m->input_views : m->output_views;
    for (const auto& s : specs) {
      buffers.emplace_back();
      Status st = buffers.back().allocate(s.spec.nbytes());
      if (!st.is_ok()) return fail(URT_ERROR_OUT_OF_MEMORY, "%s", st.message().c_str());
      if (s.spec.nbytes() > 0) std::memset(buffers.back().data(), 0, s.spec.nbytes());
      views.push_back(contiguous_view(s.spec, buffers.back().data()));
    }
  }
  return URT_OK;
}

// Checks the bytes already in m->file and finishes the model; frees it on failure.
urt_status finish_load(urt_model* m, size_t nbytes, const char* source, urt_model** out) {
  Status st = unified::load_bundle(reinterpret_cast<const uint8_t*>(m->file.data()), nbytes,
                                   &m->bundle, /*copy=*/false);
  urt_status code = st.is_ok() ? allocate_buffers(m->bundle, m)
                               : fail(URT_ERROR_BUNDLE, "%s: %s", source, st.message().c_str());
  if (code != URT_OK) {
    delete m;
    return code;
  }
  *out = m;
  return URT_OK;
}

// Runs `body` with C++ exceptions (allocation failures) turned into statuses. Size builds
// compile without exceptions (-fno-exceptions): the core reports every error as a Status and
// throws nothing itself, so only running out of memory inside the standard library remains,
// which then ends the process as any allocation failure would.
template <class F>
urt_status guarded(const char* what, F body) {
#if defined(__cpp_exceptions)
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(URT_ERROR_OUT_OF_MEMORY, "%s: out of memory", what);
  } catch (const std::exception& e) {
    return fail(URT_ERROR_RUN, "%s: %s", what, e.what());
  } catch (...) {
    return fail(URT_ERROR_RUN, "%s: unknown C++ exception", what);
  }
#else
  (void)what;
  return body();
#endif
}

// The spec of input/output `index`, or null with the error recorded in *code.
const unified::BundleTensorSpec* find_spec(const urt_model* m, bool input, int index,
                                           bool args_ok, const char* what, urt_status* code) {
  *code = URT_OK;
  if (m == nullptr || !args_ok) {
    *code = fail(URT_ERROR_INVALID_ARGUMENT, "%s: null argument", what);
    return nullptr;
  }
  const auto& specs = input ? m->bundle.inputs : m->bundle.outputs;
  if (index < 0 || index >= static_cast<int>(specs.size())) {
    *code = fail(URT_ERROR_INVALID_ARGUMENT, "%s: no %s %d (the model has %zu)", what,
                 input ? "input" : "output", index, specs.size());
    return nullptr;
  }
  return &specs[index];
}

std::string shape_str(const int64_t* dims, int ndim) {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

urt_status reference_tensor(const urt_model* m, int pair, int index, bool input,
                            const void** data, size_t* nbytes) {
  const char* what = input ? "urt_reference_input" : "urt_reference_output";
  if (m == nullptr || data == nullptr || nbytes == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "%s: null argument", what);
  const auto& refs = m->bundle.references;
  if (pair < 0 || pair >= static_cast<int>(refs.size()))
    return fail(URT_ERROR_INVALID_ARGUMENT, "%s: no reference pair %d (the bundle has %zu)",
                what, pair, refs.size());
  const auto& tensors = input ? refs[pair].inputs : refs[pair].outputs;
  if (index < 0 || index >= static_cast<int>(tensors.size()))
    return fail(URT_ERROR_INVALID_ARGUMENT, "%s: no tensor %d in reference pair %d", what, index,
                pair);
  *data = tensors[index].data;
  *nbytes = static_cast<size_t>(tensors[index].spec.nbytes());
  return URT_OK;
}

urt_status read_file(const char* path, urt_model** out) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr)
    return fail(URT_ERROR_IO, "urt_load_file: cannot open '%s': %s", path, std::strerror(errno));
  struct stat info;
  if (fstat(fileno(f), &info) != 0 || !S_ISREG(info.st_mode)) {
    std::fclose(f);
    return fail(URT_ERROR_IO, "urt_load_file: '%s' is not a regular file", path);
  }
  const long size = static_cast<long>(info.st_size);
  auto* m = new urt_model();
  Status st = m->file.allocate(size);
  size_t got = 0;
  if (st.is_ok() && size > 0) got = std::fread(m->file.data(), 1, static_cast<size_t>(size), f);
  std::fclose(f);
  if (!st.is_ok() || got != static_cast<size_t>(size)) {
    delete m;
    return st.is_ok() ? fail(URT_ERROR_IO, "urt_load_file: read %zu of %ld bytes of '%s'", got,
                             size, path)
                      : fail(URT_ERROR_OUT_OF_MEMORY, "urt_load_file: '%s' has %ld bytes: %s",
                             path, size, st.message().c_str());
  }
  return finish_load(m, static_cast<size_t>(size), path, out);
}

#if !defined(UNIFIED_NO_DYNAMIC_BATCH)  // bundle_batch.h: a runtime for fixed batches only
// The batch N at which input `index` (saved shape and slopes in the bundle) has shape `dims`, or
// -1 when no batch gives exactly that shape; `expected` gets the shape at N.
int64_t batch_of_shape(const unified::BundleBatch& batch, int index, const int64_t* dims,
                       int ndim, std::vector<int64_t>* expected) {
  const auto& saved = batch.input_shapes[index];
  const auto& slopes = batch.input_slopes[index];
  int64_t n = batch.current;
  for (size_t i = 0; i < saved.size(); ++i) {
    if (slopes[i] == 0 || static_cast<int>(i) >= ndim) continue;
    int64_t moved = 0;  // the caller's dims may be anything: no overflow
    if (__builtin_sub_overflow(dims[i], saved[i], &moved) || moved % slopes[i] != 0) return -1;
    if (__builtin_add_overflow(batch.saved, moved / slopes[i], &n)) return -1;
    break;
  }
  // within 1..max every value was checked at load (its extremes), so this cannot overflow
  if (n < 1 || n > batch.max) return n < 1 ? -1 : n;
  expected->clear();
  for (size_t i = 0; i < saved.size(); ++i)
    expected->push_back(saved[i] + slopes[i] * (n - batch.saved));
  return n;
}

#endif

urt_status refuse_fixed_shape(const unified::BundleTensorSpec* s, int index, const int64_t* dims,
                              int ndim) {
  std::string dynamic;
  for (size_t i = 0; i < s->dynamic_axes.size(); ++i)
    dynamic += (i ? ", " : "") + std::to_string(s->dynamic_axes[i]) +
               (i < s->dynamic_names.size() ? " ('" + s->dynamic_names[i] + "')" : "");
  if (!dynamic.empty()) dynamic = " (dynamic axes recorded: " + dynamic + ")";
  const auto& saved = s->spec.shape;
  return fail(URT_ERROR_INVALID_ARGUMENT,
              "urt_set_input_shape: input %d '%s' was saved at shape %s%s; this bundle was "
              "exported without dynamic_batch=True and runs at the saved shape only, got %s: "
              "export it again with dynamic_batch=True, or at this shape",
              index, s->name.c_str(),
              shape_str(saved.data(), static_cast<int>(saved.size())).c_str(), dynamic.c_str(),
              shape_str(dims, ndim).c_str());
}

#if !defined(UNIFIED_NO_DYNAMIC_BATCH)
// Re-plans the model at batch n and gives it new input and output buffers.
urt_status change_batch(urt_model* m, int64_t n) {
  const int64_t old = m->bundle.batch.current;
  Status st = unified::bundle_set_batch(&m->bundle, n);
  if (!st.is_ok()) return fail(URT_ERROR_INVALID_ARGUMENT, "urt_set_input_shape: %s",
                               st.message().c_str());
  ModelBuffers fresh;
  urt_status code = allocate_buffers(m->bundle, &fresh);
  if (code != URT_OK) {  // back to batch `old` (should that fail too, Plan::bind refuses the
                         // mismatched buffers at the next run: never out of bounds)
    unified::bundle_set_batch(&m->bundle, old);
    return code;
  }
  static_cast<ModelBuffers&>(*m) = std::move(fresh);
  return URT_OK;
}
#endif

}  // namespace

extern "C" {

urt_status urt_load_file(const char* path, urt_model** out) {
  if (path == nullptr || out == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_load_file: null argument");
  *out = nullptr;
  return guarded("urt_load_file", [&] { return read_file(path, out); });
}

urt_status urt_load_memory(const void* data, size_t nbytes, urt_model** out) {
  if ((data == nullptr && nbytes > 0) || out == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_load_memory: null argument");
  *out = nullptr;
  return guarded("urt_load_memory", [&] {
    auto* m = new urt_model();
    Status st = m->file.allocate(static_cast<int64_t>(nbytes));
    if (!st.is_ok()) {
      delete m;
      return fail(URT_ERROR_OUT_OF_MEMORY, "urt_load_memory: %s", st.message().c_str());
    }
    if (nbytes > 0) std::memcpy(m->file.data(), data, nbytes);
    return finish_load(m, nbytes, "<memory>", out);
  });
}

void urt_free(urt_model* model) { delete model; }

urt_status urt_num_inputs(const urt_model* model, int* count) {
  if (model == nullptr || count == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_num_inputs: null argument");
  *count = static_cast<int>(model->bundle.inputs.size());
  return URT_OK;
}

urt_status urt_num_outputs(const urt_model* model, int* count) {
  if (model == nullptr || count == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_num_outputs: null argument");
  *count = static_cast<int>(model->bundle.outputs.size());
  return URT_OK;
}

// The interface getters of inputs (input=true) and outputs: name, dtype, shape, byte size.
static urt_status spec_name(const urt_model* m, bool input, int index, const char** name) {
  urt_status code;
  const auto* s = find_spec(m, input, index, name != nullptr,
                            input ? "urt_input_name" : "urt_output_name", &code);
  if (s != nullptr) *name = s->name.c_str();
  return code;
}

static urt_status spec_dtype(const urt_model* m, bool input, int index, urt_dtype* dtype) {
  urt_status code;
  const auto* s = find_spec(m, input, index, dtype != nullptr,
                            input ? "urt_input_dtype" : "urt_output_dtype", &code);
  if (s != nullptr) *dtype = static_cast<urt_dtype>(s->spec.dtype);
  return code;
}

static urt_status spec_shape(const urt_model* m, bool input, int index, const int64_t** dims,
                             int* ndim) {
  urt_status code;
  const auto* s = find_spec(m, input, index, dims != nullptr && ndim != nullptr,
                            input ? "urt_input_shape" : "urt_output_shape", &code);
  if (s == nullptr) return code;
  *dims = s->spec.shape.data();
  *ndim = static_cast<int>(s->spec.shape.size());
  return URT_OK;
}

static urt_status spec_nbytes(const urt_model* m, bool input, int index, size_t* nbytes) {
  urt_status code;
  const auto* s = find_spec(m, input, index, nbytes != nullptr,
                            input ? "urt_input_nbytes" : "urt_output_nbytes", &code);
  if (s != nullptr) *nbytes = static_cast<size_t>(s->spec.nbytes());
  return code;
}

urt_status urt_input_name(const urt_model* m, int i, const char** name) {
  return spec_name(m, true, i, name);
}
urt_status urt_output_name(const urt_model* m, int i, const char** name) {
  return spec_name(m, false, i, name);
}
urt_status urt_input_dtype(const urt_model* m, int i, urt_dtype* dtype) {
  return spec_dtype(m, true, i, dtype);
}
urt_status urt_output_dtype(const urt_model* m, int i, urt_dtype* dtype) {
  return spec_dtype(m, false, i, dtype);
}
urt_status urt_input_shape(const urt_model* m, int i, const int64_t** dims, int* ndim) {
  return spec_shape(m, true, i, dims, ndim);
}
urt_status urt_output_shape(const urt_model* m, int i, const int64_t** dims, int* ndim) {
  return spec_shape(m, false, i, dims, ndim);
}
urt_status urt_input_nbytes(const urt_model* m, int i, size_t* nbytes) {
  return spec_nbytes(m, true, i, nbytes);
}
urt_status urt_output_nbytes(const urt_model* m, int i, size_t* nbytes) {
  return spec_nbytes(m, false, i, nbytes);
}

urt_status urt_set_input_shape(urt_model* model, int index, const int64_t* dims, int ndim) {
  return guarded("urt_set_input_shape", [&] {
    urt_status code;
    const auto* s = find_spec(model, true, index, ndim <= 0 || dims != nullptr,
                              "urt_set_input_shape", &code);
    if (s == nullptr) return code;
    if (ndim < 0) return fail(URT_ERROR_INVALID_ARGUMENT, "urt_set_input_shape: ndim %d < 0", ndim);
    const auto& current = s->spec.shape;
    bool same = ndim == static_cast<int>(current.size());
    for (int i = 0; same && i < ndim; ++i) same = dims[i] == current[i];
    if (same) return URT_OK;
#if defined(UNIFIED_NO_DYNAMIC_BATCH)
    return refuse_fixed_shape(s, index, dims, ndim);
#else
    const unified::BundleBatch& batch = model->bundle.batch;
    if (!batch.dynamic()) return refuse_fixed_shape(s, index, dims, ndim);
    std::vector<int64_t> expected;
    const int64_t n = batch_of_shape(batch, index, dims, ndim, &expected);
    if (n > batch.max)
      return fail(URT_ERROR_INVALID_ARGUMENT, "urt_set_input_shape: input %d '%s' shape %s asks "
                  "for batch %lld, more than this bundle's max_batch %lld (export it again with "
                  "a larger max_batch)", index, s->name.c_str(), shape_str(dims, ndim).c_str(),
                  static_cast<long long>(n), static_cast<long long>(batch.max));
    same = n >= 1 && ndim == static_cast<int>(expected.size());
    for (int i = 0; same && i < ndim; ++i) same = dims[i] == expected[i];
    if (!same)
      return fail(URT_ERROR_INVALID_ARGUMENT,
                  "urt_set_input_shape: input %d '%s' is %s now and only its batch may change "
                  "(batch 1..%lld); got %s%s%s", index, s->name.c_str(),
                  shape_str(current.data(), static_cast<int>(current.size())).c_str(),
                  static_cast<long long>(batch.max), shape_str(dims, ndim).c_str(),
                  n >= 1 ? ", which at its batch should be " : "",
                  n >= 1 ? shape_str(expected.data(), static_cast<int>(expected.size())).c_str()
                         : "");
    return change_batch(model, n);
#endif
  });
}

urt_status urt_batch(const urt_model* model, int64_t* batch, int64_t* max_batch) {
  if (model == nullptr || batch == nullptr || max_batch == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_batch: null argument");
  *batch = model->bundle.batch.current;
  *max_batch = model->bundle.batch.max;
  return URT_OK;
}

urt_status urt_set_input(urt_model* model, int index, const void* data, size_t nbytes) {
  urt_status code;
  const auto* s = find_spec(model, true, index, nbytes == 0 || data != nullptr, "urt_set_input",
                            &code);
  if (s == nullptr) return code;
  const size_t want = static_cast<size_t>(s->spec.nbytes());
  if (nbytes != want)
    return fail(URT_ERROR_INVALID_ARGUMENT,
                "urt_set_input: input %d '%s' is %s (%zu bytes), got %zu bytes", index,
                s->name.c_str(), s->spec.str().c_str(), want, nbytes);
  if (nbytes > 0) std::memcpy(model->inputs[index].data(), data, nbytes);
  return URT_OK;
}

urt_status urt_run(urt_model* model) {
  if (model == nullptr) return fail(URT_ERROR_INVALID_ARGUMENT, "urt_run: model is null");
  return guarded("urt_run", [&] {
    Status st = unified::bundle_run(&model->bundle, model->input_views.data(),
                                    static_cast<int>(model->input_views.size()),
                                    model->output_views.data(),
                                    static_cast<int>(model->output_views.size()));
    return st.is_ok() ? URT_OK : fail(URT_ERROR_RUN, "urt_run: %s", st.message().c_str());
  });
}

urt_status urt_get_output(const urt_model* model, int index, const void** data, size_t* nbytes) {
  urt_status code;
  const auto* s = find_spec(model, false, index, data != nullptr && nbytes != nullptr,
                            "urt_get_output", &code);
  if (s == nullptr) return code;
  *data = model->outputs[index].data();
  *nbytes = static_cast<size_t>(s->spec.nbytes());
  return URT_OK;
}

urt_status urt_set_num_threads(int num_threads) {
  if (num_threads < 1)
    return fail(URT_ERROR_INVALID_ARGUMENT,
                "urt_set_num_threads: num_threads must be >= 1, got %d", num_threads);
  unified::set_num_threads(num_threads);
  return URT_OK;
}

urt_status urt_get_num_threads(int* num_threads) {
  if (num_threads == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_get_num_threads: null argument");
  *num_threads = unified::get_num_threads();
  return URT_OK;
}

const char* urt_last_error(void) { return g_last_error.c_str(); }

urt_status urt_num_references(const urt_model* model, int* count) {
  if (model == nullptr || count == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_num_references: null argument");
  *count = static_cast<int>(model->bundle.references.size());
  return URT_OK;
}

urt_status urt_reference_input(const urt_model* model, int pair, int index, const void** data,
                               size_t* nbytes) {
  return reference_tensor(model, pair, index, true, data, nbytes);
}

urt_status urt_reference_output(const urt_model* model, int pair, int index, const void** data,
                                size_t* nbytes) {
  return reference_tensor(model, pair, index, false, data, nbytes);
}

urt_status urt_arena_bytes(const urt_model* model, size_t* nbytes) {
  if (model == nullptr || nbytes == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_arena_bytes: null argument");
  *nbytes = static_cast<size_t>(model->bundle.arena_bytes);
  return URT_OK;
}

urt_status urt_model_bytes(const urt_model* model, size_t* nbytes) {
  if (model == nullptr || nbytes == nullptr)
    return fail(URT_ERROR_INVALID_ARGUMENT, "urt_model_bytes: null argument");
  int64_t total = model->file.size() + model->bundle.arena_bytes;
  for (const Arena& a : model->inputs) total += a.size();
  for (const Arena& a : model->outputs) total += a.size();
  *nbytes = static_cast<size_t>(total);
  return URT_OK;
}

int urt_num_kernels(void) { return unified::all_kernels().size(); }

const char* urt_kernel_name(int index) {
  const unified::KernelRegistry& reg = unified::all_kernels();
  return index >= 0 && index < reg.size() ? reg.name(index).c_str() : nullptr;
}

}  // extern "C"
