// Reduction kernels: sum, mean, max, min, argmax, argmin, var, logsumexp, all, any over the
// dims in attr `dims` (sorted, distinct, non-negative) with attr `keepdim`. One reducer per op
// (init / step / combine / finish), one loop engine (reduce_loop.h), one dtype switch. Float
// sums accumulate in double, so a 1e6-element float32 sum is exact to float32 rounding.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "reduce_loop.h"
#include "unified/registry.h"

namespace unified {
namespace {

using reduce_detail::ReducePlan;
using reduce_detail::run_reduce;

// ---- reducers ---------------------------------------------------------------------------

// Feeds a run of n elements (stride s, first reduced index r0) to step() one by one.
template <class Derived, class T, class Acc>
struct StepRows {
  void row(Acc& acc, const T* x, int64_t n, int64_t s, int64_t r0) const {
    const Derived& self = static_cast<const Derived&>(*this);
    if (s == 1) {
      for (int64_t i = 0; i < n; ++i) self.step(acc, x[i], r0 + i);
    } else {
      for (int64_t i = 0; i < n; ++i) self.step(acc, x[i * s], r0 + i);
    }
  }
};

// sum (divided by count for mean). Float runs use 8 partial sums so the loop vectorizes.
template <class T, class AccT, class OutT>
struct SumR {
  using Acc = AccT;
  using Out = OutT;
  double divisor = 0.0;  // > 0 for mean (0 / 0 = nan for an empty mean, as in PyTorch)
  bool is_mean = false;
  Acc init(int64_t) const { return Acc(0); }
  void step(Acc& a, T v, int64_t) const { a += static_cast<Acc>(v); }
  void combine(Acc& a, const Acc& b) const { a += b; }
  Out finish(const Acc& a, int64_t) const {
    return is_mean ? static_cast<Out>(static_cast<double>(a) / divisor) : static_cast<Out>(a);
  }
  void row(Acc& acc, const T* x, int64_t n, int64_t s, int64_t) const {
    if (s != 1) {
      for (int64_t i = 0; i < n; ++i) acc += static_cast<Acc>(x[i * s]);
      return;
    }
    Acc part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) part[k] += static_cast<Acc>(x[i + k]);
    for (; i < n; ++i) part[i % 8] += static_cast<Acc>(x[i]);
    acc += ((part[0] + part[1]) + (part[2] + part[3])) +
           ((part[4] + part[5]) + (part[6] + part[7]));
  }
};

// NaN wins (it propagates, as in PyTorch); otherwise the larger (kMax) or smaller value.
template <class T, bool kMax>
inline bool better(T v, T best) {
  if (v != v) return best == best;
  return kMax ? v > best : v < best;
}

template <class T, bool kMax>
constexpr T worst() {
  if constexpr (std::numeric_limits<T>::has_infinity)
    return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
}

// max / min values. Contiguous float runs keep 8 branch-free partial extrema and a NaN flag,
// so the loop vectorizes.
template <class T, bool kMax>
struct ExtremumR : StepRows<ExtremumR<T, kMax>, T, T> {
  using Acc = T;
  using Out = T;
  Acc init(int64_t) const { return worst<T, kMax>(); }
  void step(Acc& a, T v, int64_t) const { if (better<T, kMax>(v, a)) a = v; }
  void combine(Acc& a, const Acc& b) const { step(a, b, 0); }
  Out finish(const Acc& a, int64_t) const { return a; }
  void row(Acc& acc, const T* x, int64_t n, int64_t s, int64_t r0) const {
    if (!std::is_same<T, float>::value || s != 1 || n < 16) {
      StepRows<ExtremumR<T, kMax>, T, T>::row(acc, x, n, s, r0);
      return;
    }
    T part[8];
    int nan[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 8; ++k) part[k] = x[k];
    int64_t i = 8;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) {
        T v = x[i + k];
        nan[k] |= v != v;
        part[k] = (kMax ? v > part[k] : v < part[k]) ? v : part[k];
      }
    }
    for (int k = 0; k < 8; ++k) {
      step(acc, part[k], 0);
      if (nan[k]) step(acc, std::numeric_limits<T>::quiet_NaN(), 0);
    }
    for (; i < n; ++i) step(acc, x[i], 0);
  }
};

// argmax / argmin: the first index of the extremum in row-major order over the reduced dims.
template <class T, bool kMax>
struct ArgR : StepRows<ArgR<T, kMax>, T, std::pair<T, int64_t>> {
  using Acc = std::pair<T, int64_t>;
  using Out = int64_t;
  Acc init(int64_t) const { return {worst<T, kMax>(), -1}; }
  void step(Acc& a, T v, int64_t r) const {
    if (a.second < 0 || better<T, kMax>(v, a.first)) a = {v, r};
  }
  void combine(Acc& a, const Acc& b) const {  // b covers later indices: ties keep a
    if (b.second >= 0 && (a.second < 0 || better<T, kMax>(b.first, a.first))) a = b;
  }
  Out finish(const Acc& a, int64_t) const { return a.second; }
};

// Second pass of var: squared deviations from the mean of pass one.
struct VarR : StepRows<VarR, float, std::pair<double, double>> {
  using Acc = std::pair<double, double>;  // (mean, sum of squared deviations)
  using Out = float;
  const double* mean = nullptr;
  double dof = 0.0;  // max(count - correction, 0): 0 gives inf or nan, as in PyTorch
  Acc init(int64_t i) const { return {mean[i], 0.0}; }
  void step(Acc& a, float v, int64_t) const {
    double d = static_cast<double>(v) - a.first;
    a.second += d * d;
  }
  void combine(Acc& a, const Acc& b) const { a.second += b.second; }
  Out finish(const Acc& a, int64_t) const { return static_cast<float>(a.second / dof); }
};

// Second pass of logsumexp: sum of exp(x - max) with the max of pass one (0 when infinite).
struct LogSumExpR : StepRows<LogSumExpR, float, std::pair<float, double>> {
  using Acc = std::pair<float, double>;  // (shift, sum)
  using Out = float;
  const float* max = nullptr;
  Acc init(int64_t i) const { return {std::isinf(max[i]) ? 0.0f : max[i], 0.0}; }
  void step(Acc& a, float v, int64_t) const { a.second += std::exp(v - a.first); }
  void combine(Acc& a, const Acc& b) const { a.second += b.second; }
  Out finish(const Acc& a, int64_t) const {
    return static_cast<float>(std::log(a.second) + a.first);
  }
};

// all / any: truth of every (some) element; the accumulator is an int, never vector<bool>.
template <class T, bool kAll>
struct TruthR : StepRows<TruthR<T, kAll>, T, int> {
  using Acc = int;
  using Out = bool;
  Acc init(int64_t) const { return kAll ? 1 : 0; }
  void step(Acc& a, T v, int64_t) const {
    if (kAll) a &= (v != T(0)); else a |= (v != T(0));
  }
  void combine(Acc& a, const Acc& b) const { if (kAll) a &= b; else a |= b; }
  Out finish(const Acc& a, int64_t) const { return a != 0; }
};

// ---- checks, dtype switch, output ---------------------------------------------------------

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

// Checks arity, attrs and the output shape, then builds the plan.
Status prepare(const KernelArgs& args, const char* name, ReducePlan* plan) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, 1, 1));
  const TensorView &x = args.in(0), &o = args.out(0);
  const std::vector<int64_t> dims = args.attrs->get_ints("dims");
  const bool keepdim = args.attrs->get_int("keepdim", 0) != 0;
  bool reduced[kMaxDims] = {false};
  int64_t prev = -1;
  for (int64_t d : dims) {
    if (d <= prev || d >= x.ndim)
      return make_status(StatusCode::kInvalidArgument, name, ": dims ", ints_str(dims),
                         " must be sorted, distinct and in [0, ", x.ndim, ") for input ",
                         x.shape_str());
    reduced[d] = true;
    prev = d;
  }
  std::vector<int64_t> want;
  for (int d = 0; d < x.ndim; ++d)
    if (!reduced[d] || keepdim) want.push_back(reduced[d] ? 1 : x.shape[d]);
  bool same = static_cast<int>(want.size()) == o.ndim;
  for (int d = 0; same && d < o.ndim; ++d) same = want[d] == o.shape[d];
  if (!same)
    return make_status(StatusCode::kInvalidArgument, name, ": output shape ", o.shape_str(),
                       " does not match input ", x.shape_str(), " reduced over dims ",
                       ints_str(dims), " (expected ", ints_str(want), ")");
  *plan = reduce_detail::make_reduce_plan(x, o, reduced, keepdim);
  return Status::ok();
}

Status require_nonempty(const ReducePlan& p, const KernelArgs& args, const char* name) {
  if (p.R == 0)
    return make_status(StatusCode::kInvalidArgument, name,
                       ": cannot reduce over an empty dimension (input ", args.in(0).shape_str(),
                       ", dims ", ints_str(args.attrs->get_ints("dims")), ")");
  return Status::ok();
}

// Calls fn(T{}) with the C++ type of dtype d.
template <class Fn>
Status visit_dtype(DType d, const char* name, Fn fn) {
  switch (d) {
    case DType::kFloat32: return fn(float{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kUInt8: return fn(uint8_t{});
    case DType::kBool: return fn(bool{});
  }
  return unsupported_dtype(name, d);
}

template <class T, class Red>
Status reduce_into_output(const ReducePlan& p, const KernelArgs& args, const Red& red) {
  auto* out = args.out(0).ptr<typename Red::Out>();
  run_reduce<T>(p, args.in(0).ptr<T>(), red,
                [out](int64_t, int64_t off, typename Red::Out v) { out[off] = v; });
  return Status::ok();
}

// One value per output element, in kept-index order (pass one of var and logsumexp).
template <class T, class Red>
std::vector<typename Red::Out> reduce_into_buffer(const ReducePlan& p, const T* x, const Red& red) {
  std::vector<typename Red::Out> buffer(p.M);
  run_reduce<T>(p, x, red, [&buffer](int64_t i, int64_t, typename Red::Out v) { buffer[i] = v; });
  return buffer;
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// ---- kernels ----------------------------------------------------------------------------

// sum: float32 -> float32 (double accumulator); int32/int64/uint8/bool -> int64.
Status sum(const KernelArgs& args) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, "sum", &p));
  const DType in = args.in(0).dtype;
  if (in == DType::kFloat32) {
    UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "sum", "output"));
    return reduce_into_output<float>(p, args, SumR<float, double, float>{});
  }
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kInt64, "sum", "output"));
  return visit_dtype(in, "sum", [&](auto tag) {
    using T = decltype(tag);
    return reduce_into_output<T>(p, args, SumR<T, int64_t, int64_t>{});
  });
}

Status mean(const KernelArgs& args) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, "mean", &p));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, "mean", "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "mean", "output"));
  SumR<float, double, float> red;
  red.is_mean = true;
  red.divisor = static_cast<double>(p.R);
  return reduce_into_output<float>(p, args, red);
}

namespace {
template <bool kMax>
Status extremum(const KernelArgs& args, const char* name) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, name, &p));
  UNIFIED_RETURN_IF_ERROR(require_nonempty(p, args, name));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), args.in(0).dtype, name, "output"));
  return visit_dtype(args.in(0).dtype, name, [&](auto tag) {
    using T = decltype(tag);
    return reduce_into_output<T>(p, args, ExtremumR<T, kMax>{});
  });
}

template <bool kMax>
Status arg_extremum(const KernelArgs& args, const char* name) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, name, &p));
  UNIFIED_RETURN_IF_ERROR(require_nonempty(p, args, name));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kInt64, name, "output"));
  return visit_dtype(args.in(0).dtype, name, [&](auto tag) {
    using T = decltype(tag);
    return reduce_into_output<T>(p, args, ArgR<T, kMax>{});
  });
}
}  // namespace

Status max(const KernelArgs& args) { return extremum<true>(args, "max"); }
Status min(const KernelArgs& args) { return extremum<false>(args, "min"); }
Status argmax(const KernelArgs& args) { return arg_extremum<true>(args, "argmax"); }
Status argmin(const KernelArgs& args) { return arg_extremum<false>(args, "argmin"); }

// var: two passes (mean, then squared deviations), divided by max(count - correction, 0).
Status var(const KernelArgs& args) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, "var", &p));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, "var", "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "var", "output"));
  SumR<float, double, double> mean_red;
  mean_red.is_mean = true;
  mean_red.divisor = static_cast<double>(p.R);
  const float* x = args.in(0).ptr<float>();
  std::vector<double> means = reduce_into_buffer<float>(p, x, mean_red);
  VarR red;
  red.mean = means.data();
  red.dof = std::max(0.0, static_cast<double>(p.R) - args.attrs->get_float("correction", 1.0));
  return reduce_into_output<float>(p, args, red);
}

// logsumexp: two passes (max, then sum of exp(x - max)); -inf over an empty dim.
Status logsumexp(const KernelArgs& args) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, "logsumexp", &p));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, "logsumexp", "input"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kFloat32, "logsumexp", "output"));
  const float* x = args.in(0).ptr<float>();
  std::vector<float> maxes = reduce_into_buffer<float>(p, x, ExtremumR<float, true>{});
  LogSumExpR red;
  red.max = maxes.data();
  return reduce_into_output<float>(p, args, red);
}

namespace {
template <bool kAll>
Status truth(const KernelArgs& args, const char* name) {
  ReducePlan p;
  UNIFIED_RETURN_IF_ERROR(prepare(args, name, &p));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kBool, name, "output"));
  return visit_dtype(args.in(0).dtype, name, [&](auto tag) {
    using T = decltype(tag);
    return reduce_into_output<T>(p, args, TruthR<T, kAll>{});
  });
}
}  // namespace

Status all(const KernelArgs& args) { return truth<true>(args, "all"); }
Status any(const KernelArgs& args) { return truth<false>(args, "any"); }

void register_reduce_kernels(KernelRegistry& reg) {
  reg.add("sum", sum);
  reg.add("mean", mean);
  reg.add("max", max);
  reg.add("min", min);
  reg.add("argmax", argmax);
  reg.add("argmin", argmin);
  reg.add("var", var);
  reg.add("logsumexp", logsumexp);
  reg.add("all", all);
  reg.add("any", any);
}

}  // namespace unified
