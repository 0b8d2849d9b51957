// Address-independent vectorized loops: Eigen's array expressions peel unaligned head elements
// into scalar code (std::exp where the body uses Eigen's polynomial pexp; a different summation
// order), so results changed with the data's address and traced runs (arena buffers) could
// differ from eager ones by an ulp. These helpers walk [0, n) in whole packets from index 0
// with unaligned loads and run the tail through a padded packet: every element takes the same
// code path and every sum the same order, wherever the data sits.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

namespace unified {
namespace pk {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int kSize = Eigen::internal::unpacket_traits<Packet>::size;

inline Packet load(const float* p) { return Eigen::internal::ploadu<Packet>(p); }
inline void store(float* p, const Packet& v) { Eigen::internal::pstoreu(p, v); }
inline Packet set1(float v) { return Eigen::internal::pset1<Packet>(v); }
inline Packet exp(const Packet& v) { return Eigen::internal::pexp(v); }

// out[i] = f(in[i]) for packets; `in` and `out` may alias.
template <class F>
void map(const float* in, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + kSize <= n; i += kSize) store(out + i, f(load(in + i)));
  if (i < n) {
    alignas(64) float buf[kSize] = {0};
    std::copy(in + i, in + n, buf);
    store(buf, f(load(buf)));
    std::copy(buf, buf + (n - i), out + i);
  }
}

// sum over i of f(a[i], b[i]) (b may be null: f gets a zero packet), in a fixed order: lane-wise
// partial sums over whole packets, the masked tail, then one horizontal sum.
template <class F>
float sum(const float* a, const float* b, int64_t n, F f) {
  Packet acc = set1(0.0f);
  const Packet zero = set1(0.0f);
  int64_t i = 0;
  for (; i + kSize <= n; i += kSize)
    acc = Eigen::internal::padd(acc, f(load(a + i), b ? load(b + i) : zero));
  if (i < n) {
    alignas(64) float ba[kSize] = {0}, bb[kSize] = {0}, r[kSize];
    std::copy(a + i, a + n, ba);
    if (b) std::copy(b + i, b + n, bb);
    store(r, f(load(ba), load(bb)));
    std::fill(r + (n - i), r + kSize, 0.0f);
    acc = Eigen::internal::padd(acc, load(r));
  }
  return Eigen::internal::predux(acc);
}

inline float sum(const float* a, int64_t n) {
  return sum(a, nullptr, n, [](const Packet& x, const Packet&) { return x; });
}

}  // namespace pk
}  // namespace unified
