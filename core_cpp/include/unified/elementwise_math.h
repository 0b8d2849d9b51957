// The float32 math of every fusable elementwise op, one function each, shared by the
// elementwise kernels (kernels/elementwise.cpp) and the fused-elementwise engine
// (kernels/fused.cpp), so a fused chain rounds exactly like the unfused ops. Each function
// takes up to two parameters (p0, p1): the op's float attributes, in the order its OpDef's
// `fuse_params` lists them.
//
// Transcendental ops (exp, log, tanh, sigmoid, ...) are defined by a packet function (Eigen's
// vectorized math, name_p): the scalar form is lane 0 of the packet form, so contiguous rows
// (whole packets), strided elements and fused tiles all give the same bits.
#pragma once
#include <cmath>

#include "unified/packet_math.h"

namespace unified {
namespace ew {

using pk::Packet;
namespace pi = Eigen::internal;

// Defines name(x, p0, p1) as lane 0 of name_p(x, p0, p1).
#define UNIFIED_SCALAR_FROM_PACKET(name)                 \
  inline float name(float x, float p0, float p1) {       \
    return pi::pfirst(name##_p(pk::set1(x), p0, p1));    \
  }

inline Packet exp_p(const Packet& x, float, float) { return pi::pexp(x); }
inline Packet log_p(const Packet& x, float, float) { return pi::plog(x); }
inline Packet sqrt_p(const Packet& x, float, float) { return pi::psqrt(x); }
inline Packet rsqrt_p(const Packet& x, float, float) { return pi::pdiv(pk::set1(1.0f), pi::psqrt(x)); }
inline Packet sin_p(const Packet& x, float, float) { return pi::psin(x); }
inline Packet cos_p(const Packet& x, float, float) { return pi::pcos(x); }
inline Packet tanh_p(const Packet& x, float, float) { return pi::ptanh(x); }
inline Packet sigmoid_p(const Packet& x, float, float) {
  const Packet one = pk::set1(1.0f);
  return pi::pdiv(one, pi::padd(one, pi::pexp(pi::pnegate(x))));
}
inline Packet silu_p(const Packet& x, float, float) { return pi::pmul(x, sigmoid_p(x, 0, 0)); }
UNIFIED_SCALAR_FROM_PACKET(exp)
UNIFIED_SCALAR_FROM_PACKET(log)
UNIFIED_SCALAR_FROM_PACKET(sqrt)
UNIFIED_SCALAR_FROM_PACKET(rsqrt)
UNIFIED_SCALAR_FROM_PACKET(sin)
UNIFIED_SCALAR_FROM_PACKET(cos)
UNIFIED_SCALAR_FROM_PACKET(tanh)
UNIFIED_SCALAR_FROM_PACKET(sigmoid)
UNIFIED_SCALAR_FROM_PACKET(silu)

inline float sigmoid_of(float x) { return sigmoid(x, 0.0f, 0.0f); }

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;

inline float gelu_tanh_inner(float x) { return kSqrt2OverPi * (x + 0.044715f * x * x * x); }
inline float tanh_of(float x) { return pi::pfirst(pi::ptanh(pk::set1(x))); }

// ---- unary: f(x, p0, p1) ------------------------------------------------------------------
inline float neg(float x, float, float) { return -x; }
inline float abs(float x, float, float) { return x < 0 ? -x : x; }
inline float relu(float x, float, float) { return x > 0.0f ? x : 0.0f; }
inline float leaky_relu(float x, float slope, float) { return x > 0.0f ? x : x * slope; }
// p0 = 1: the tanh approximation (vectorized), else the exact erf form (erf per lane)
inline Packet gelu_p(const Packet& x, float tanh_approx, float) {
  const Packet half = pk::set1(0.5f), one = pk::set1(1.0f);
  if (tanh_approx != 0.0f) {
    const Packet x3 = pi::pmul(pi::pmul(x, x), x);
    const Packet inner = pi::pmul(pk::set1(kSqrt2OverPi), pi::padd(x, pi::pmul(pk::set1(0.044715f), x3)));
    return pi::pmul(pi::pmul(half, x), pi::padd(one, pi::ptanh(inner)));
  }
  alignas(64) float v[pk::kSize];
  pk::store(v, x);
  for (float& e : v) e = 0.5f * e * (1.0f + std::erf(e * kInvSqrt2));
  return pk::load(v);
}
UNIFIED_SCALAR_FROM_PACKET(gelu)
// log(1 + exp(beta x)) / beta, linear above threshold (PyTorch's definition)
inline Packet softplus_p(const Packet& x, float beta, float threshold) {
  const Packet bx = pi::pmul(x, pk::set1(beta));
  // generic_plog1p: what plog1p is on SSE/AVX/AVX-512; Eigen 3.4 has no NEON plog1p
  const Packet soft = pi::pdiv(pi::generic_plog1p(pi::pexp(bx)), pk::set1(beta));
  return pi::pselect(pi::pcmp_lt(pk::set1(threshold), bx), x, soft);
}
UNIFIED_SCALAR_FROM_PACKET(softplus)
// a bound is absent when it is NaN; NaN inputs pass through
inline float clamp(float x, float lo, float hi) {
  if (lo == lo && x < lo) x = lo;
  if (hi == hi && x > hi) x = hi;
  return x;
}

// ---- binary: f(a, b, p0, p1) ----------------------------------------------------------------
inline float add(float a, float b, float alpha, float) { return alpha == 1.0f ? a + b : a + alpha * b; }
inline float sub(float a, float b, float alpha, float) { return alpha == 1.0f ? a - b : a + (-alpha) * b; }
inline float mul(float a, float b, float, float) { return a * b; }
inline float div(float a, float b, float, float) { return a / b; }
inline float pow(float a, float b, float, float) { return std::pow(a, b); }
inline float maximum(float a, float b, float, float) {
  return (a != a) ? a : (b != b) ? b : (a > b ? a : b);
}
inline float minimum(float a, float b, float, float) {
  return (a != a) ? a : (b != b) ? b : (a < b ? a : b);
}

// ---- backward ops: f(grad, saved, p0, p1); saved is the forward input, or output where noted
inline float relu_backward(float g, float x, float, float) { return x > 0.0f ? g : 0.0f; }
inline float leaky_relu_backward(float g, float x, float slope, float) {
  return x > 0.0f ? g : g * slope;
}
inline float sigmoid_backward(float g, float y, float, float) { return g * y * (1.0f - y); }
inline float tanh_backward(float g, float y, float, float) { return g * (1.0f - y * y); }
inline float silu_backward(float g, float x, float, float) {
  float s = sigmoid_of(x);
  return g * s * (1.0f + x * (1.0f - s));
}
inline float gelu_backward(float g, float x, float tanh_approx, float) {
  if (tanh_approx != 0.0f) {
    float t = tanh_of(gelu_tanh_inner(x));
    float dinner = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner);
  }
  float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
  float pdf = 0.3989422804014327f * exp(-0.5f * x * x, 0.0f, 0.0f);
  return g * (cdf + x * pdf);
}
inline float softplus_backward(float g, float x, float beta, float threshold) {
  return x * beta > threshold ? g : g * sigmoid_of(x * beta);
}
inline float clamp_backward(float g, float x, float lo, float hi) {
  bool inside = !(lo == lo && x < lo) && !(hi == hi && x > hi);
  return inside ? g : 0.0f;
}

#undef UNIFIED_SCALAR_FROM_PACKET

}  // namespace ew
}  // namespace unified
