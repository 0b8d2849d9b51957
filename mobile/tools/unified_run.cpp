// unified-run: loads a .ufb bundle with the C API (unified_rt.h), runs it on random or .npy
// inputs and reports latency (min/median/max over --iters runs after --warmup), memory (the
// plan's arena, the model's bytes, the process's peak RSS) and, with --verify, the largest
// difference from the bundle's stored reference outputs (exit status 1 when one is out of
// tolerance). Any error (unreadable or hostile file, bad argument) prints one message and exits
// with status 2; nothing it is given can crash it. Written with printf-style formatting rather
// than std::string chains: it is part of the trimmed runtime's size.
//
//   unified-run model.ufb --iters 200 --warmup 10 --threads 1 --verify --input x.npy
//   unified-run --list-kernels        # the kernels this build has (a trimmed one: its model's)
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "npy.h"
#include "unified_rt.h"

namespace {

const char kUsage[] =
    "usage: unified-run MODEL.ufb [--iters N] [--warmup N] [--threads N] [--verify]\n"
    "                   [--atol X] [--rtol X] [--input X.npy]... [--save-outputs DIR]\n"
    "                   [--seed N] [--json] [--batch N]\n"
    "       unified-run --list-kernels\n"
    "  --iters N          timed runs (default 100)\n"
    "  --warmup N         untimed runs first (default 10)\n"
    "  --threads N        kernel threads (default 1)\n"
    "  --verify           run the bundle's reference pairs; exit 1 on a mismatch\n"
    "  --atol/--rtol X    verify tolerances (default 1e-5 and 1e-5)\n"
    "  --input X.npy      input k from a .npy file (one per input, in order);\n"
    "                     default: random values from --seed\n"
    "  --save-outputs DIR write each output of the last timed run to DIR/<name>.npy\n"
    "  --json             print one JSON object instead of text\n"
    "  --batch N          run a dynamic-batch bundle at batch N (dim 0 of every input)\n";

struct Options {
  const char* model = nullptr;
  long iters = 100, warmup = 10, threads = 1, seed = 0, batch = 0;
  bool verify = false, json = false, list_kernels = false;
  double atol = 1e-5, rtol = 1e-5;
  std::vector<const char*> inputs;
  const char* save_dir = nullptr;
};

[[noreturn]] __attribute__((format(printf, 1, 2))) void die(const char* format, ...) {
  std::fputs("unified-run: ", stderr);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::exit(2);
}

void check(urt_status st, const char* what) {
  if (st != URT_OK) die("%s: %s", what, urt_last_error());
}

long parse_int(const char* text, const char* flag, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
    die("%s needs an integer in [%ld, %ld], got '%s'", flag, lo, hi, text);
  return v;
}

double parse_tolerance(const char* text, const char* flag) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= 0)) die("%s needs a number >= 0, got '%s'", flag, text);
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto is = [a](const char* flag) { return std::strcmp(a, flag) == 0; };
    auto value = [&] {
      if (i + 1 >= argc) die("%s needs a value", a);
      return argv[++i];
    };
    if (is("--iters")) o.iters = parse_int(value(), a, 1, 100000000);
    else if (is("--warmup")) o.warmup = parse_int(value(), a, 0, 100000000);
    else if (is("--threads")) o.threads = parse_int(value(), a, 1, 4096);
    else if (is("--seed")) o.seed = parse_int(value(), a, 0, 1L << 62);
    else if (is("--atol")) o.atol = parse_tolerance(value(), a);
    else if (is("--rtol")) o.rtol = parse_tolerance(value(), a);
    else if (is("--input")) o.inputs.push_back(value());
    else if (is("--batch")) o.batch = parse_int(value(), a, 1, 1L << 31);
    else if (is("--save-outputs")) o.save_dir = value();
    else if (is("--verify")) o.verify = true;
    else if (is("--json")) o.json = true;
    else if (is("--list-kernels")) o.list_kernels = true;
    else if (is("-h") || is("--help")) std::fputs(kUsage, stdout), std::exit(0);
    else if (a[0] == '-') die("unknown option '%s'\n%s", a, kUsage);
    else if (o.model == nullptr) o.model = a;
    else die("more than one model given ('%s' and '%s')", o.model, a);
  }
  if (o.model == nullptr && !o.list_kernels) die("no model given\n%s", kUsage);
  if (o.batch > 0 && o.verify) die("--verify runs the reference pairs at the saved batch; "
                                   "leave out --batch");
  return o;
}

const char* dtype_name(urt_dtype d) {
  switch (d) {
    case URT_FLOAT32: return "float32";
    case URT_INT32: return "int32";
    case URT_INT64: return "int64";
    case URT_BOOL: return "bool";
    case URT_UINT8: return "uint8";
  }
  return "?";
}

struct TensorInfo {
  const char* name = "";
  urt_dtype dtype = URT_FLOAT32;
  std::vector<int64_t> shape;
  size_t nbytes = 0;
  char text[160] = {0};  // "float32[1, 3, 32, 32]"
};

void describe(TensorInfo* t) {
  int n = std::snprintf(t->text, sizeof t->text, "%s[", dtype_name(t->dtype));
  for (size_t i = 0; i < t->shape.size() && n < static_cast<int>(sizeof t->text); ++i)
    n += std::snprintf(t->text + n, sizeof t->text - n, "%s%lld", i ? ", " : "",
                       static_cast<long long>(t->shape[i]));
  if (n < static_cast<int>(sizeof t->text)) std::snprintf(t->text + n, sizeof t->text - n, "]");
}

TensorInfo tensor_info(const urt_model* m, bool input, int k) {
  TensorInfo t;
  const int64_t* dims = nullptr;
  int ndim = 0;
  check(input ? urt_input_name(m, k, &t.name) : urt_output_name(m, k, &t.name), "name");
  check(input ? urt_input_dtype(m, k, &t.dtype) : urt_output_dtype(m, k, &t.dtype), "dtype");
  check(input ? urt_input_shape(m, k, &dims, &ndim) : urt_output_shape(m, k, &dims, &ndim),
        "shape");
  check(input ? urt_input_nbytes(m, k, &t.nbytes) : urt_output_nbytes(m, k, &t.nbytes), "size");
  t.shape.assign(dims, dims + ndim);
  describe(&t);
  return t;
}

// Deterministic random bytes for an input: floats in [-1, 1), ints in [0, 4), 0/1 bools, any
// uint8 (splitmix64 from the seed).
std::vector<uint8_t> random_input(const TensorInfo& t, uint64_t* state) {
  std::vector<uint8_t> bytes(t.nbytes);
  const size_t item = npy_itemsize(t.dtype);
  for (size_t i = 0; item > 0 && i < t.nbytes / item; ++i) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    if (t.dtype == URT_FLOAT32) {
      const float v = static_cast<float>(z >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
      std::memcpy(&bytes[4 * i], &v, 4);
    } else if (t.dtype == URT_INT32) {
      const int32_t v = static_cast<int32_t>(z % 4);
      std::memcpy(&bytes[4 * i], &v, 4);
    } else if (t.dtype == URT_INT64) {
      const int64_t v = static_cast<int64_t>(z % 4);
      std::memcpy(&bytes[8 * i], &v, 8);
    } else {
      bytes[i] = static_cast<uint8_t>(t.dtype == URT_BOOL ? z & 1 : z);
    }
  }
  return bytes;
}

// --batch: dim 0 of every input becomes n (the C API re-plans a dynamic-batch bundle).
void set_batch(urt_model* m, int num_in, long n) {
  for (int k = 0; k < num_in; ++k) {
    const int64_t* dims = nullptr;
    int ndim = 0;
    check(urt_input_shape(m, k, &dims, &ndim), "urt_input_shape");
    if (ndim == 0) die("--batch: input %d is a scalar: it has no batch", k);
    std::vector<int64_t> want(dims, dims + ndim);
    want[0] = n;
    check(urt_set_input_shape(m, k, want.data(), ndim), "--batch");
  }
}

void set_inputs(urt_model* m, const Options& o, const std::vector<TensorInfo>& ins) {
  if (!o.inputs.empty() && o.inputs.size() != ins.size())
    die("the model takes %zu inputs, %zu --input files were given", ins.size(), o.inputs.size());
  uint64_t state = static_cast<uint64_t>(o.seed);
  for (size_t k = 0; k < ins.size(); ++k) {
    const int slot = static_cast<int>(k);
    if (o.inputs.empty()) {
      const std::vector<uint8_t> bytes = random_input(ins[k], &state);
      check(urt_set_input(m, slot, bytes.data(), bytes.size()), "urt_set_input");
      continue;
    }
    NpyArray a;
    std::string error;
    if (!npy_read(o.inputs[k], &a, &error)) die("%s", error.c_str());
    TensorInfo got;
    got.dtype = a.dtype;
    got.shape = a.shape;
    describe(&got);
    if (a.dtype != ins[k].dtype || a.shape != ins[k].shape)
      die("input %zu '%s' is %s, %s holds %s", k, ins[k].name, ins[k].text, o.inputs[k],
          got.text);
    check(urt_set_input(m, slot, a.data.data(), a.data.size()), "urt_set_input");
  }
}

struct Diff {
  double max_abs = 0, max_rel = 0;
  bool ok = true;
};

// Element i of a tensor as a double (floats compared with tolerances, the rest exactly).
double element(urt_dtype dtype, const void* p, size_t i) {
  const char* base = static_cast<const char*>(p);
  float f;
  int32_t i32;
  int64_t i64;
  switch (dtype) {
    case URT_FLOAT32: std::memcpy(&f, base + 4 * i, 4); return f;
    case URT_INT32: std::memcpy(&i32, base + 4 * i, 4); return i32;
    case URT_INT64: std::memcpy(&i64, base + 8 * i, 8); return static_cast<double>(i64);
    default: return static_cast<uint8_t>(base[i]);
  }
}

void compare(urt_dtype dtype, const void* got, const void* want, size_t nbytes, double atol,
             double rtol, Diff* d) {
  if (dtype != URT_FLOAT32) atol = rtol = 0;
  for (size_t i = 0, n = nbytes / npy_itemsize(dtype); i < n; ++i) {
    const double g = element(dtype, got, i), w = element(dtype, want, i);
    if (std::isnan(g) || std::isnan(w)) {
      if (!(std::isnan(g) && std::isnan(w))) d->ok = false, d->max_abs = d->max_rel = INFINITY;
      continue;
    }
    if (g == w) continue;  // equal infinities too
    const double diff = std::fabs(g - w);
    d->max_abs = std::max(d->max_abs, diff);
    d->max_rel = std::max(d->max_rel, diff / std::max(std::fabs(w), 1e-30));
    if (!(diff <= atol + rtol * std::fabs(w))) d->ok = false;
  }
}

// Runs every reference pair and compares its outputs; prints one line per output (text mode).
Diff verify(urt_model* m, const Options& o, size_t num_in, const std::vector<TensorInfo>& outs,
            int* pairs) {
  Diff worst;
  check(urt_num_references(m, pairs), "urt_num_references");
  for (int p = 0; p < *pairs; ++p) {
    for (size_t k = 0; k < num_in; ++k) {
      const void* data = nullptr;
      size_t nbytes = 0;
      check(urt_reference_input(m, p, static_cast<int>(k), &data, &nbytes), "reference input");
      check(urt_set_input(m, static_cast<int>(k), data, nbytes), "urt_set_input");
    }
    check(urt_run(m), "urt_run");
    for (size_t k = 0; k < outs.size(); ++k) {
      const void *got = nullptr, *want = nullptr;
      size_t got_bytes = 0, want_bytes = 0;
      check(urt_get_output(m, static_cast<int>(k), &got, &got_bytes), "urt_get_output");
      check(urt_reference_output(m, p, static_cast<int>(k), &want, &want_bytes), "reference");
      if (got_bytes != want_bytes) die("reference output %zu has %zu bytes, not %zu", k,
                                       want_bytes, got_bytes);
      Diff d;
      compare(outs[k].dtype, got, want, got_bytes, o.atol, o.rtol, &d);
      if (!o.json)
        std::printf("verify: reference pair %d output %zu '%s': max abs diff %.3g, max rel "
                    "diff %.3g%s\n", p, k, outs[k].name, d.max_abs, d.max_rel,
                    d.ok ? "" : "  MISMATCH");
      worst.max_abs = std::max(worst.max_abs, d.max_abs);
      worst.max_rel = std::max(worst.max_rel, d.max_rel);
      worst.ok = worst.ok && d.ok;
    }
  }
  if (*pairs == 0) worst.ok = false;
  return worst;
}

void save_outputs(const urt_model* m, const char* dir, const std::vector<TensorInfo>& outs) {
  for (size_t k = 0; k < outs.size(); ++k) {
    const void* data = nullptr;
    size_t nbytes = 0;
    check(urt_get_output(m, static_cast<int>(k), &data, &nbytes), "urt_get_output");
    char path[4096];
    if (std::snprintf(path, sizeof path, "%s/%s.npy", dir, outs[k].name) >= int{sizeof path})
      die("--save-outputs: the path %s/%s.npy is too long", dir, outs[k].name);
    std::string error;
    if (!npy_write(path, outs[k].dtype, outs[k].shape.data(),
                   static_cast<int>(outs[k].shape.size()), data, nbytes, &error))
      die("%s", error.c_str());
  }
}

double peak_rss_bytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

void print_json_string(const char* s) {
  std::putchar('"');
  for (; *s; ++s) {
    const auto c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') std::printf("\\%c", c);
    else if (c < 0x20) std::printf("\\u%04x", c);
    else std::putchar(c);
  }
  std::putchar('"');
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (o.list_kernels) {
    for (int i = 0; i < urt_num_kernels(); ++i) std::printf("%s\n", urt_kernel_name(i));
    return 0;
  }
  check(urt_set_num_threads(static_cast<int>(o.threads)), "urt_set_num_threads");
  urt_model* m = nullptr;
  check(urt_load_file(o.model, &m), "cannot load the model");
  int num_in = 0, num_out = 0;
  check(urt_num_inputs(m, &num_in), "urt_num_inputs");
  check(urt_num_outputs(m, &num_out), "urt_num_outputs");
  if (o.batch > 0) set_batch(m, num_in, o.batch);
  std::vector<TensorInfo> ins, outs;
  for (int k = 0; k < num_in; ++k) ins.push_back(tensor_info(m, true, k));
  for (int k = 0; k < num_out; ++k) outs.push_back(tensor_info(m, false, k));
  if (!o.json) {
    std::printf("model: %s (%d inputs, %d outputs; this build has %d kernels)\n", o.model,
                num_in, num_out, urt_num_kernels());
    for (int k = 0; k < num_in; ++k)
      std::printf("  input %d '%s': %s (%s)\n", k, ins[k].name, ins[k].text,
                  o.inputs.empty() ? "random" : o.inputs[k]);
    for (int k = 0; k < num_out; ++k)
      std::printf("  output %d '%s': %s\n", k, outs[k].name, outs[k].text);
  }

  set_inputs(m, o, ins);
  for (long i = 0; i < o.warmup; ++i) check(urt_run(m), "urt_run");
  std::vector<double> ms(static_cast<size_t>(o.iters));
  for (double& t : ms) {
    const auto t0 = std::chrono::steady_clock::now();
    check(urt_run(m), "urt_run");
    t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  if (o.save_dir != nullptr) save_outputs(m, o.save_dir, outs);
  // qsort rather than std::sort: one comparison function, not a sort instantiation (size)
  std::qsort(ms.data(), ms.size(), sizeof(double), [](const void* x, const void* y) {
    const double a = *static_cast<const double*>(x), b = *static_cast<const double*>(y);
    return (a > b) - (a < b);
  });
  const size_t mid = ms.size() / 2;
  const double median = ms.size() % 2 ? ms[mid] : 0.5 * (ms[mid - 1] + ms[mid]);
  int pairs = 0;
  const Diff v = o.verify ? verify(m, o, ins.size(), outs, &pairs) : Diff{};
  size_t arena = 0, model_bytes = 0;
  check(urt_arena_bytes(m, &arena), "urt_arena_bytes");
  check(urt_model_bytes(m, &model_bytes), "urt_model_bytes");
  const double rss = peak_rss_bytes();

  if (o.json) {
    std::printf("{\"model\": ");
    print_json_string(o.model);
    std::printf(", \"threads\": %ld, \"iters\": %ld, \"warmup\": %ld, \"latency_ms\": {\"min\": "
                "%.6f, \"median\": %.6f, \"max\": %.6f}, \"arena_bytes\": %zu, \"model_bytes\": "
                "%zu, \"peak_rss_bytes\": %.0f", o.threads, o.iters, o.warmup, ms.front(), median,
                ms.back(), arena, model_bytes, rss);
    if (o.verify)
      std::printf(", \"verify\": {\"pairs\": %d, \"max_abs_diff\": %.9g, \"max_rel_diff\": "
                  "%.9g, \"ok\": %s}", pairs, v.max_abs, v.max_rel, v.ok ? "true" : "false");
    std::printf("}\n");
  } else {
    std::printf("latency over %ld runs (%ld warm-up, %ld thread%s): min %.4f ms, median %.4f ms, "
                "max %.4f ms\n", o.iters, o.warmup, o.threads, o.threads == 1 ? "" : "s",
                ms.front(), median, ms.back());
    std::printf("memory: arena %zu bytes, model %zu bytes, peak RSS %.1f MiB\n", arena,
                model_bytes, rss / (1024.0 * 1024.0));
    if (o.verify && pairs == 0)
      std::printf("verify: FAILED: the bundle stores no reference pairs\n");
    else if (o.verify)
      std::printf("verify: %s (%d pairs, max abs diff %.3g, max rel diff %.3g, atol %g, rtol %g)\n",
                  v.ok ? "ok" : "FAILED", pairs, v.max_abs, v.max_rel, o.atol, o.rtol);
  }
  urt_free(m);
  return o.verify && !v.ok ? 1 : 0;
}
