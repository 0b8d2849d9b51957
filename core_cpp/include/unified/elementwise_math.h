// The float32 math of every fusable elementwise op, one function each, shared by the
// elementwise kernels (kernels/elementwise.cpp) and the fused-elementwise engine
// (kernels/fused.cpp), so a fused chain rounds exactly like the unfused ops. Each function
// takes up to two parameters (p0, p1): the op's float attributes, in the order its OpDef's
// `fuse_params` lists them.
#pragma once
#include <cmath>

namespace unified {
namespace ew {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;

inline float sigmoid_of(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float gelu_tanh_inner(float x) { return kSqrt2OverPi * (x + 0.044715f * x * x * x); }

// ---- unary: f(x, p0, p1) ------------------------------------------------------------------
inline float neg(float x, float, float) { return -x; }
inline float abs(float x, float, float) { return x < 0 ? -x : x; }
inline float exp(float x, float, float) { return std::exp(x); }
inline float log(float x, float, float) { return std::log(x); }
inline float sqrt(float x, float, float) { return std::sqrt(x); }
inline float rsqrt(float x, float, float) { return 1.0f / std::sqrt(x); }
inline float sin(float x, float, float) { return std::sin(x); }
inline float cos(float x, float, float) { return std::cos(x); }
inline float tanh(float x, float, float) { return std::tanh(x); }
inline float sigmoid(float x, float, float) { return sigmoid_of(x); }
inline float relu(float x, float, float) { return x > 0.0f ? x : 0.0f; }
inline float silu(float x, float, float) { return x * sigmoid_of(x); }
inline float leaky_relu(float x, float slope, float) { return x > 0.0f ? x : x * slope; }
// p0 = 1: the tanh approximation, else the exact erf form
inline float gelu(float x, float tanh_approx, float) {
  if (tanh_approx != 0.0f) return 0.5f * x * (1.0f + std::tanh(gelu_tanh_inner(x)));
  return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
}
// log(1 + exp(beta x)) / beta, linear above threshold (PyTorch's definition)
inline float softplus(float x, float beta, float threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}
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
    float t = std::tanh(gelu_tanh_inner(x));
    float dinner = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner);
  }
  float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
  float pdf = 0.3989422804014327f * std::exp(-0.5f * x * x);
  return g * (cdf + x * pdf);
}
inline float softplus_backward(float g, float x, float beta, float threshold) {
  return x * beta > threshold ? g : g * sigmoid_of(x * beta);
}
inline float clamp_backward(float g, float x, float lo, float hi) {
  bool inside = !(lo == lo && x < lo) && !(hi == hi && x > hi);
  return inside ? g : 0.0f;
}

}  // namespace ew
}  // namespace unified
