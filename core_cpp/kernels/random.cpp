// Random kernels: normal, uniform, randint, bernoulli. Counter-based (Philox4x32-10, Salmon et
// al. 2011): a value depends only on (seed, offset, its row-major index in the output), so
// results are the same for any thread count, strided outputs, eager or traced runs. Philox block
// `offset + i / per_block` (counter words: block low, block high, 0, 0; key: seed low, high)
// gives four 32-bit words, i.e. 4 uniforms, 4 normals (two Box-Muller pairs) or 2 randints.
// The generator state (seed, offset) lives in unified/random.py and reaches a kernel as its last
// input, an int64 tensor of two elements (so a traced graph carries it as data); ops in
// unified/ops/random.py.
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "unified/registry.h"
#include "unified/strided_loop.h"

namespace unified {
namespace {

constexpr float kTwoPi = 6.283185307179586f;
constexpr float kInv2Pow24 = 1.0f / 16777216.0f;

void philox4x32_10(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// [0, 1) with 24 random bits (exact in float32).
inline float unit_float(uint32_t word) { return static_cast<float>(word >> 8) * kInv2Pow24; }

struct RandomKey {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

// The state input (seed, offset): int64 of two elements (any strides); its bits are the
// unsigned 64-bit seed and offset.
Status read_key(const KernelArgs& args, const char* name, RandomKey* key) {
  const TensorView& state = args.in(args.num_inputs - 1);
  if (state.dtype != DType::kInt64 || state.ndim != 1 || state.shape[0] != 2)
    return make_status(StatusCode::kInvalidArgument, name, ": the generator state input must be "
                       "int64 of shape (2,) (seed, offset), got ", dtype_name(state.dtype),
                       " of shape ", state.shape_str());
  const int64_t* p = state.ptr<int64_t>();
  key->seed = static_cast<uint64_t>(p[0]);
  key->offset = static_cast<uint64_t>(p[state.strides[0]]);
  return Status::ok();
}

// Calls emit(offsets, i, st, value) for every output element, value = block_fn's value for the
// element's row-major index. Operand 0 of `views` is the output; the others broadcast to it.
template <int N, int kPerBlock, class T, class BlockFn, class Emit>
void fill_by_index(const std::array<const TensorView*, N>& views, RandomKey key, BlockFn block_fn,
                   Emit emit) {
  const TensorView& out = *views[0];
  // A data-less contiguous view of the output's shape: its offsets are row-major indices.
  const TensorView linear = contiguous_view(nullptr, DType::kInt64, out.ndim, out.shape);
  std::array<const TensorView*, N + 1> all;
  all[0] = &linear;
  for (int k = 0; k < N; ++k) all[k + 1] = views[k];
  const auto plan = make_strided_plan<N + 1>(all);
  for_each_row<N + 1>(plan, [&](const int64_t* off, int64_t n, const int64_t* st) {
    T values[4];
    uint64_t cached = 0;
    bool have = false;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t index = static_cast<uint64_t>(off[0] + i * st[0]);
      const uint64_t block = key.offset + index / kPerBlock;
      if (!have || block != cached) {
        uint32_t words[4];
        philox4x32_10(block, key.seed, words);
        block_fn(words, values);
        cached = block;
        have = true;
      }
      emit(off + 1, i, st + 1, values[index % kPerBlock]);
    }
  });
}

// Arity (the state input included), the float32 output, and the state -> *key.
Status check_output(const KernelArgs& args, const char* name, int num_inputs, RandomKey* key) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, 1));
  UNIFIED_RETURN_IF_ERROR(read_key(args, name, key));
  return check_dtype(args.out(0), DType::kFloat32, name, "output");
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// normal: N(mean, std^2) by Box-Muller on (0, 1] x [0, 1) pairs.
Status normal(const KernelArgs& args) {
  RandomKey key;
  UNIFIED_RETURN_IF_ERROR(check_output(args, "normal", 1, &key));
  const float mean = static_cast<float>(args.attrs->get_float("mean", 0.0));
  const float std_dev = static_cast<float>(args.attrs->get_float("std", 1.0));
  UNIFIED_ENSURE(std_dev >= 0.0f, "normal: std must be >= 0, got ", std_dev);
  const TensorView& out = args.out(0);
  float* po = out.ptr<float>();
  auto block = [&](const uint32_t* w, float* v) {
    for (int pair = 0; pair < 2; ++pair) {
      const float u1 = static_cast<float>((w[2 * pair] >> 8) + 1) * kInv2Pow24;
      const float theta = kTwoPi * unit_float(w[2 * pair + 1]);
      const float r = std::sqrt(-2.0f * std::log(u1));
      v[2 * pair] = mean + std_dev * r * std::cos(theta);
      v[2 * pair + 1] = mean + std_dev * r * std::sin(theta);
    }
  };
  fill_by_index<1, 4, float>({&out}, key, block,
                             [&](const int64_t* off, int64_t i, const int64_t* st, float v) {
                               po[off[0] + i * st[0]] = v;
                             });
  return Status::ok();
}

// uniform: [low, high).
Status uniform(const KernelArgs& args) {
  RandomKey key;
  UNIFIED_RETURN_IF_ERROR(check_output(args, "uniform", 1, &key));
  const float low = static_cast<float>(args.attrs->get_float("low", 0.0));
  const float high = static_cast<float>(args.attrs->get_float("high", 1.0));
  UNIFIED_ENSURE(low <= high, "uniform: low must be <= high, got low=", low, " high=", high);
  const float span = high - low;
  const float below_high = low < high ? std::nextafter(high, low) : high;
  const TensorView& out = args.out(0);
  float* po = out.ptr<float>();
  auto block = [&](const uint32_t* w, float* v) {
    for (int k = 0; k < 4; ++k) v[k] = std::fmin(low + span * unit_float(w[k]), below_high);
  };
  fill_by_index<1, 4, float>({&out}, key, block,
                             [&](const int64_t* off, int64_t i, const int64_t* st, float v) {
                               po[off[0] + i * st[0]] = v;
                             });
  return Status::ok();
}

namespace {
template <class T>
void randint_fill(const TensorView& out, RandomKey key, int64_t low, uint64_t span) {
  T* po = out.ptr<T>();
  auto block = [&](const uint32_t* w, int64_t* v) {
    for (int k = 0; k < 2; ++k) {
      const uint64_t bits = static_cast<uint64_t>(w[2 * k]) |
                            (static_cast<uint64_t>(w[2 * k + 1]) << 32);
      // low + floor(bits * span / 2^64): unbiased up to span / 2^64
      const unsigned __int128 product = static_cast<unsigned __int128>(bits) * span;
      const uint64_t scaled = static_cast<uint64_t>(product >> 64);
      v[k] = low + static_cast<int64_t>(scaled);
    }
  };
  fill_by_index<1, 2, int64_t>({&out}, key, block,
                               [&](const int64_t* off, int64_t i, const int64_t* st, int64_t v) {
                                 po[off[0] + i * st[0]] = static_cast<T>(v);
                               });
}
}  // namespace

// randint: integers in [low, high) written in the output's dtype.
Status randint(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "randint", 1, 1));
  RandomKey key;
  UNIFIED_RETURN_IF_ERROR(read_key(args, "randint", &key));
  const int64_t low = args.attrs->get_int("low", 0), high = args.attrs->get_int("high", 1);
  UNIFIED_ENSURE(low < high, "randint: low must be < high, got low=", low, " high=", high);
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const TensorView& out = args.out(0);
  switch (out.dtype) {
    case DType::kInt64: randint_fill<int64_t>(out, key, low, span); break;
    case DType::kInt32: randint_fill<int32_t>(out, key, low, span); break;
    case DType::kUInt8: randint_fill<uint8_t>(out, key, low, span); break;
    case DType::kFloat32: randint_fill<float>(out, key, low, span); break;
    default: return unsupported_dtype("randint", out.dtype);
  }
  return Status::ok();
}

// bernoulli(p): 1.0 where a uniform draw is below p (p broadcasts to the output's shape).
Status bernoulli(const KernelArgs& args) {
  RandomKey key;
  UNIFIED_RETURN_IF_ERROR(check_output(args, "bernoulli", 2, &key));
  const TensorView &p = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(p, DType::kFloat32, "bernoulli", "p"));
  bool fits = p.ndim <= out.ndim;
  for (int d = 0; fits && d < p.ndim; ++d) {
    const int64_t ps = p.shape[p.ndim - 1 - d];
    fits = ps == 1 || ps == out.shape[out.ndim - 1 - d];
  }
  if (!fits)
    return make_status(StatusCode::kInvalidArgument, "bernoulli: p of shape ", p.shape_str(),
                       " does not broadcast to ", out.shape_str());
  float* po = out.ptr<float>();
  const float* pp = p.ptr<float>();
  std::atomic<bool> bad{false};
  float bad_value = 0.0f;
  auto block = [](const uint32_t* w, float* v) {
    for (int k = 0; k < 4; ++k) v[k] = unit_float(w[k]);
  };
  fill_by_index<2, 4, float>({&out, &p}, key, block,
                             [&](const int64_t* off, int64_t i, const int64_t* st, float u) {
                               const float prob = pp[off[1] + i * st[1]];
                               if (!(prob >= 0.0f && prob <= 1.0f) && !bad.exchange(true))
                                 bad_value = prob;
                               po[off[0] + i * st[0]] = u < prob ? 1.0f : 0.0f;
                             });
  if (bad.load())
    return make_status(StatusCode::kInvalidArgument, "bernoulli: probabilities must be in [0, 1], "
                       "got ", bad_value);
  return Status::ok();
}

void register_random_kernels(KernelRegistry& reg) {
  reg.add("normal", normal);
  reg.add("uniform", uniform);
  reg.add("randint", randint);
  reg.add("bernoulli", bernoulli);
}

}  // namespace unified
