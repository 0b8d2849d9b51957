// Elementwise kernels: unary math and activations (and their backward ops), binary
// arithmetic and comparisons with NumPy broadcasting, where, cast. One scalar functor per
// op, the one loop template (strided_loop.h), one dtype switch per kernel shape. The float32
// math of every fusable op is ew::<op> (elementwise_math.h), shared with the fused engine.
#include <cmath>
#include <cstdint>

#include "unified/elementwise_math.h"
#include "unified/fused.h"
#include "unified/registry.h"
#include "unified/strided_loop.h"

namespace unified {
namespace {

using pk::Packet;

// ---- dtype switches ---------------------------------------------------------------------

// Arity, then every input broadcastable to output 0.
Status check_shapes(const KernelArgs& args, const char* name, int num_inputs) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, 1));
  for (int i = 0; i < num_inputs; ++i)
    UNIFIED_RETURN_IF_ERROR(check_broadcast(name, args.in(i), args.out(0)));
  return Status::ok();
}

// Binary op with the same dtype in and out; F is a functor template over the element type.
template <template <class> class F>
Status binary_same(const KernelArgs& args, const char* name, bool float_only) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 2));
  const TensorView &a = args.in(0), &b = args.in(1), &o = args.out(0);
  if (a.dtype != b.dtype || a.dtype != o.dtype)
    return make_status(StatusCode::kTypeError, name, ": dtypes differ: ", dtype_name(a.dtype),
                       ", ", dtype_name(b.dtype), " -> ", dtype_name(o.dtype));
  switch (a.dtype) {
    case DType::kFloat32: binary_loop<float, float, float>(o, a, b, F<float>()); return Status::ok();
    default: break;
  }
  if (!float_only) {
    switch (a.dtype) {
      case DType::kInt32: binary_loop<int32_t, int32_t, int32_t>(o, a, b, F<int32_t>()); return Status::ok();
      case DType::kInt64: binary_loop<int64_t, int64_t, int64_t>(o, a, b, F<int64_t>()); return Status::ok();
      case DType::kUInt8: binary_loop<uint8_t, uint8_t, uint8_t>(o, a, b, F<uint8_t>()); return Status::ok();
      case DType::kBool: binary_loop<bool, bool, bool>(o, a, b, F<bool>()); return Status::ok();
      default: break;
    }
  }
  return unsupported_dtype(name, a.dtype);
}

// Comparison: same input dtypes, bool output.
template <template <class> class F>
Status compare(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 2));
  const TensorView &a = args.in(0), &b = args.in(1), &o = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(o, DType::kBool, name, "output"));
  if (a.dtype != b.dtype)
    return make_status(StatusCode::kTypeError, name, ": dtypes differ: ", dtype_name(a.dtype),
                       " and ", dtype_name(b.dtype));
  switch (a.dtype) {
    case DType::kFloat32: binary_loop<bool, float, float>(o, a, b, F<float>()); return Status::ok();
    case DType::kInt32: binary_loop<bool, int32_t, int32_t>(o, a, b, F<int32_t>()); return Status::ok();
    case DType::kInt64: binary_loop<bool, int64_t, int64_t>(o, a, b, F<int64_t>()); return Status::ok();
    case DType::kUInt8: binary_loop<bool, uint8_t, uint8_t>(o, a, b, F<uint8_t>()); return Status::ok();
    case DType::kBool: binary_loop<bool, bool, bool>(o, a, b, F<bool>()); return Status::ok();
  }
  return unsupported_dtype(name, a.dtype);
}

// Float32 unary op; F is a functor reading the attrs it needs.
template <class F>
Status unary_float(const KernelArgs& args, const char* name, F f) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 1));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, name, "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, name, "output"));
  unary_loop<float, float>(args.out(0), args.in(0), f);
  return Status::ok();
}

// Float32 unary op defined by a packet function (elementwise_math.h): contiguous rows run in
// whole packets (pk::map), strided elements through lane 0 of the same function.
template <Packet (*FP)(const Packet&, float, float)>
Status unary_packet(const KernelArgs& args, const char* name, float p0 = 0.0f, float p1 = 0.0f) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 1));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, name, "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, name, "output"));
  const TensorView &in = args.in(0), &out = args.out(0);
  auto plan = make_strided_plan<2>({&out, &in});
  float* po = out.ptr<float>();
  const float* pi_ = in.ptr<float>();
  for_each_row<2>(plan, [&](const int64_t* off, int64_t n, const int64_t* st) {
    if (st[0] == 1 && st[1] == 1) {
      pk::map(pi_ + off[1], po + off[0], n, [&](const Packet& x) { return FP(x, p0, p1); });
    } else {
      for (int64_t i = 0; i < n; ++i)
        po[off[0] + i * st[0]] = Eigen::internal::pfirst(FP(pk::set1(pi_[off[1] + i * st[1]]), p0, p1));
    }
  });
  return Status::ok();
}

// Unary op valid for every numeric dtype (neg, abs, sign); F is a functor template.
template <template <class> class F>
Status unary_numeric(const KernelArgs& args, const char* name) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 1));
  const TensorView &a = args.in(0), &o = args.out(0);
  if (a.dtype != o.dtype) return make_status(StatusCode::kTypeError, name, ": dtypes differ");
  switch (a.dtype) {
    case DType::kFloat32: unary_loop<float, float>(o, a, F<float>()); return Status::ok();
    case DType::kInt32: unary_loop<int32_t, int32_t>(o, a, F<int32_t>()); return Status::ok();
    case DType::kInt64: unary_loop<int64_t, int64_t>(o, a, F<int64_t>()); return Status::ok();
    default: return unsupported_dtype(name, a.dtype);
  }
}

// Backward of a float unary op: (grad, saved) -> grad_input, saved is the input or output.
template <class F>
Status backward_float(const KernelArgs& args, const char* name, F f) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 2));
  for (int i = 0; i < 2; ++i)
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, name, i ? "saved" : "grad"));
  binary_loop<float, float, float>(args.out(0), args.in(0), args.in(1), f);
  return Status::ok();
}

// ---- functors ---------------------------------------------------------------------------

template <class T> struct AddF { T operator()(T a, T b) const { return a + b; } };
template <> struct AddF<bool> { bool operator()(bool a, bool b) const { return a || b; } };
template <class T> struct SubF { T operator()(T a, T b) const { return a - b; } };
template <> struct SubF<bool> { bool operator()(bool a, bool b) const { return a != b; } };
template <class T> struct MulF { T operator()(T a, T b) const { return a * b; } };
template <> struct MulF<bool> { bool operator()(bool a, bool b) const { return a && b; } };
template <class T> struct DivF { T operator()(T a, T b) const { return a / b; } };
template <class T> struct PowF { T operator()(T a, T b) const { return std::pow(a, b); } };
template <class T> struct MaxF {
  T operator()(T a, T b) const { return (a != a) ? a : (b != b) ? b : (a > b ? a : b); }
};
template <class T> struct MinF {
  T operator()(T a, T b) const { return (a != a) ? a : (b != b) ? b : (a < b ? a : b); }
};
template <class T> struct EqF { bool operator()(T a, T b) const { return a == b; } };
template <class T> struct NeF { bool operator()(T a, T b) const { return a != b; } };
template <class T> struct LtF { bool operator()(T a, T b) const { return a < b; } };
template <class T> struct LeF { bool operator()(T a, T b) const { return a <= b; } };
template <class T> struct GtF { bool operator()(T a, T b) const { return a > b; } };
template <class T> struct GeF { bool operator()(T a, T b) const { return a >= b; } };
template <class T> struct NegF { T operator()(T a) const { return -a; } };
template <class T> struct AbsF { T operator()(T a) const { return a < 0 ? -a : a; } };
template <class T> struct SignF { T operator()(T a) const { return static_cast<T>((T(0) < a) - (a < T(0))); } };

// float32: the shared ew:: math (no parameters: alpha = 1)
template <> struct AddF<float> { float operator()(float a, float b) const { return ew::add(a, b, 1.0f, 0.0f); } };
template <> struct SubF<float> { float operator()(float a, float b) const { return ew::sub(a, b, 1.0f, 0.0f); } };
template <> struct MulF<float> { float operator()(float a, float b) const { return ew::mul(a, b, 0.0f, 0.0f); } };
template <> struct DivF<float> { float operator()(float a, float b) const { return ew::div(a, b, 0.0f, 0.0f); } };
template <> struct PowF<float> { float operator()(float a, float b) const { return ew::pow(a, b, 0.0f, 0.0f); } };
template <> struct MaxF<float> { float operator()(float a, float b) const { return ew::maximum(a, b, 0.0f, 0.0f); } };
template <> struct MinF<float> { float operator()(float a, float b) const { return ew::minimum(a, b, 0.0f, 0.0f); } };
template <> struct NegF<float> { float operator()(float a) const { return ew::neg(a, 0.0f, 0.0f); } };
template <> struct AbsF<float> { float operator()(float a) const { return ew::abs(a, 0.0f, 0.0f); } };

// ---- binary kernels ---------------------------------------------------------------------

// add/sub take PyTorch's `alpha` (a + alpha * b); alpha != 1 is float32 only (Python checks).
template <template <class> class F, float (*E)(float, float, float, float)>
Status scaled(const KernelArgs& args, const char* name) {
  const double alpha = args.attrs->get_float("alpha", 1.0);
  if (alpha == 1.0) return binary_same<F>(args, name, false);
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, name, 2));
  for (int i = 0; i < 2; ++i)
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(i), DType::kFloat32, name, "input with alpha"));
  const float k = static_cast<float>(alpha);
  binary_loop<float, float, float>(args.out(0), args.in(0), args.in(1),
                                   [k](float x, float y) { return E(x, y, k, 0.0f); });
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status add(const KernelArgs& a) { return scaled<AddF, ew::add>(a, "add"); }
Status sub(const KernelArgs& a) { return scaled<SubF, ew::sub>(a, "sub"); }
Status mul(const KernelArgs& a) { return binary_same<MulF>(a, "mul", false); }
Status div(const KernelArgs& a) { return binary_same<DivF>(a, "div", true); }
Status pow(const KernelArgs& a) { return binary_same<PowF>(a, "pow", true); }
Status maximum(const KernelArgs& a) { return binary_same<MaxF>(a, "maximum", false); }
Status minimum(const KernelArgs& a) { return binary_same<MinF>(a, "minimum", false); }
Status eq(const KernelArgs& a) { return compare<EqF>(a, "eq"); }
Status ne(const KernelArgs& a) { return compare<NeF>(a, "ne"); }
Status lt(const KernelArgs& a) { return compare<LtF>(a, "lt"); }
Status le(const KernelArgs& a) { return compare<LeF>(a, "le"); }
Status gt(const KernelArgs& a) { return compare<GtF>(a, "gt"); }
Status ge(const KernelArgs& a) { return compare<GeF>(a, "ge"); }

Status where(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, "where", 3));
  const TensorView &c = args.in(0), &a = args.in(1), &b = args.in(2), &o = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(c, DType::kBool, "where", "condition"));
  if (a.dtype != b.dtype || a.dtype != o.dtype)
    return make_status(StatusCode::kTypeError, "where: dtypes differ: ", dtype_name(a.dtype),
                       " and ", dtype_name(b.dtype));
  auto pick = [](bool cond, auto x, auto y) { return cond ? x : y; };
  switch (a.dtype) {
    case DType::kFloat32: ternary_loop<float, bool, float, float>(o, c, a, b, pick); break;
    case DType::kInt32: ternary_loop<int32_t, bool, int32_t, int32_t>(o, c, a, b, pick); break;
    case DType::kInt64: ternary_loop<int64_t, bool, int64_t, int64_t>(o, c, a, b, pick); break;
    case DType::kUInt8: ternary_loop<uint8_t, bool, uint8_t, uint8_t>(o, c, a, b, pick); break;
    case DType::kBool: ternary_loop<bool, bool, bool, bool>(o, c, a, b, pick); break;
  }
  return Status::ok();
}

namespace {
// ---- cast and copy ----------------------------------------------------------------------

template <class TIn>
Status cast_from(const TensorView& in, const TensorView& out) {
  auto conv = [](auto x) { return x; };
  switch (out.dtype) {
    case DType::kFloat32: unary_loop<float, TIn>(out, in, [](TIn x) { return static_cast<float>(x); }); break;
    case DType::kInt32: unary_loop<int32_t, TIn>(out, in, [](TIn x) { return static_cast<int32_t>(x); }); break;
    case DType::kInt64: unary_loop<int64_t, TIn>(out, in, [](TIn x) { return static_cast<int64_t>(x); }); break;
    case DType::kUInt8: unary_loop<uint8_t, TIn>(out, in, [](TIn x) { return static_cast<uint8_t>(x); }); break;
    case DType::kBool: unary_loop<bool, TIn>(out, in, [](TIn x) { return x != TIn(0); }); break;
  }
  (void)conv;
  return Status::ok();
}
}  // namespace

// cast: convert to the output's dtype (float -> int truncates toward zero, as NumPy does).
// With equal dtypes it is a strided copy (the `contiguous` path of eager views).
Status cast(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_shapes(args, "cast", 1));
  const TensorView &in = args.in(0), &out = args.out(0);
  switch (in.dtype) {
    case DType::kFloat32: return cast_from<float>(in, out);
    case DType::kInt32: return cast_from<int32_t>(in, out);
    case DType::kInt64: return cast_from<int64_t>(in, out);
    case DType::kUInt8: return cast_from<uint8_t>(in, out);
    case DType::kBool: return cast_from<bool>(in, out);
  }
  return unsupported_dtype("cast", in.dtype);
}

// ---- unary kernels ----------------------------------------------------------------------

Status neg(const KernelArgs& a) { return unary_numeric<NegF>(a, "neg"); }
Status abs(const KernelArgs& a) { return unary_numeric<AbsF>(a, "abs"); }
Status sign(const KernelArgs& a) { return unary_numeric<SignF>(a, "sign"); }
Status exp(const KernelArgs& a) { return unary_packet<ew::exp_p>(a, "exp"); }
Status log(const KernelArgs& a) { return unary_packet<ew::log_p>(a, "log"); }
Status sqrt(const KernelArgs& a) { return unary_packet<ew::sqrt_p>(a, "sqrt"); }
Status rsqrt(const KernelArgs& a) { return unary_packet<ew::rsqrt_p>(a, "rsqrt"); }
Status sin(const KernelArgs& a) { return unary_packet<ew::sin_p>(a, "sin"); }
Status cos(const KernelArgs& a) { return unary_packet<ew::cos_p>(a, "cos"); }
Status tanh(const KernelArgs& a) { return unary_packet<ew::tanh_p>(a, "tanh"); }
Status sigmoid(const KernelArgs& a) { return unary_packet<ew::sigmoid_p>(a, "sigmoid"); }
Status relu(const KernelArgs& a) { return unary_float(a, "relu", [](float x) { return ew::relu(x, 0.0f, 0.0f); }); }
Status silu(const KernelArgs& a) { return unary_packet<ew::silu_p>(a, "silu"); }

Status leaky_relu(const KernelArgs& a) {
  const float slope = static_cast<float>(a.attrs->get_float("negative_slope", 0.01));
  return unary_float(a, "leaky_relu", [slope](float x) { return ew::leaky_relu(x, slope, 0.0f); });
}

// p0 of ew::gelu: 1 for approximate="tanh", else 0 (the erf form); constant per lambda
Status gelu(const KernelArgs& a) {
  if (a.attrs->get_string("approximate", "none") == "tanh")
    return unary_packet<ew::gelu_p>(a, "gelu", 1.0f);
  return unary_packet<ew::gelu_p>(a, "gelu", 0.0f);
}

Status softplus(const KernelArgs& a) {
  const float beta = static_cast<float>(a.attrs->get_float("beta", 1.0));
  const float threshold = static_cast<float>(a.attrs->get_float("threshold", 20.0));
  return unary_packet<ew::softplus_p>(a, "softplus", beta, threshold);
}

// clamp(x, min, max); a bound is absent when its attribute is NaN.
Status clamp(const KernelArgs& a) {
  const float lo = static_cast<float>(a.attrs->get_float("min", NAN));
  const float hi = static_cast<float>(a.attrs->get_float("max", NAN));
  return unary_float(a, "clamp", [lo, hi](float x) { return ew::clamp(x, lo, hi); });
}

// ---- backward kernels: inputs (grad, saved) ------------------------------------------------

Status relu_backward(const KernelArgs& a) {
  return backward_float(a, "relu_backward",
                        [](float g, float x) { return ew::relu_backward(g, x, 0.0f, 0.0f); });
}
Status leaky_relu_backward(const KernelArgs& a) {
  const float slope = static_cast<float>(a.attrs->get_float("negative_slope", 0.01));
  return backward_float(a, "leaky_relu_backward", [slope](float g, float x) {
    return ew::leaky_relu_backward(g, x, slope, 0.0f);
  });
}
Status sigmoid_backward(const KernelArgs& a) {  // saved: the output y
  return backward_float(a, "sigmoid_backward",
                        [](float g, float y) { return ew::sigmoid_backward(g, y, 0.0f, 0.0f); });
}
Status tanh_backward(const KernelArgs& a) {  // saved: the output y
  return backward_float(a, "tanh_backward",
                        [](float g, float y) { return ew::tanh_backward(g, y, 0.0f, 0.0f); });
}
Status silu_backward(const KernelArgs& a) {
  return backward_float(a, "silu_backward",
                        [](float g, float x) { return ew::silu_backward(g, x, 0.0f, 0.0f); });
}
Status gelu_backward(const KernelArgs& a) {
  if (a.attrs->get_string("approximate", "none") == "tanh")
    return backward_float(a, "gelu_backward",
                          [](float g, float x) { return ew::gelu_backward(g, x, 1.0f, 0.0f); });
  return backward_float(a, "gelu_backward",
                        [](float g, float x) { return ew::gelu_backward(g, x, 0.0f, 0.0f); });
}
Status softplus_backward(const KernelArgs& a) {
  const float beta = static_cast<float>(a.attrs->get_float("beta", 1.0));
  const float threshold = static_cast<float>(a.attrs->get_float("threshold", 20.0));
  return backward_float(a, "softplus_backward", [beta, threshold](float g, float x) {
    return ew::softplus_backward(g, x, beta, threshold);
  });
}
Status clamp_backward(const KernelArgs& a) {
  const float lo = static_cast<float>(a.attrs->get_float("min", NAN));
  const float hi = static_cast<float>(a.attrs->get_float("max", NAN));
  return backward_float(a, "clamp_backward",
                        [lo, hi](float g, float x) { return ew::clamp_backward(g, x, lo, hi); });
}

void register_elementwise_kernels(KernelRegistry& reg) {
  reg.add("add", add);
  reg.add("sub", sub);
  reg.add("mul", mul);
  reg.add("div", div);
  reg.add("pow", pow);
  reg.add("maximum", maximum);
  reg.add("minimum", minimum);
  reg.add("eq", eq);
  reg.add("ne", ne);
  reg.add("lt", lt);
  reg.add("le", le);
  reg.add("gt", gt);
  reg.add("ge", ge);
  reg.add("where", where);
  reg.add("cast", cast);
  reg.add("neg", neg);
  reg.add("abs", abs);
  reg.add("sign", sign);
  reg.add("exp", exp);
  reg.add("log", log);
  reg.add("sqrt", sqrt);
  reg.add("rsqrt", rsqrt);
  reg.add("sin", sin);
  reg.add("cos", cos);
  reg.add("tanh", tanh);
  reg.add("sigmoid", sigmoid);
  reg.add("relu", relu);
  reg.add("silu", silu);
  reg.add("leaky_relu", leaky_relu);
  reg.add("gelu", gelu);
  reg.add("softplus", softplus);
  reg.add("clamp", clamp);
  reg.add("relu_backward", relu_backward);
  reg.add("leaky_relu_backward", leaky_relu_backward);
  reg.add("sigmoid_backward", sigmoid_backward);
  reg.add("tanh_backward", tanh_backward);
  reg.add("silu_backward", silu_backward);
  reg.add("gelu_backward", gelu_backward);
  reg.add("softplus_backward", softplus_backward);
  reg.add("clamp_backward", clamp_backward);
  register_fused_kernels(reg);
}

}  // namespace unified
