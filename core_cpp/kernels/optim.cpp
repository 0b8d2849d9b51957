// optim kernels: fused optimizer updates, one kernel call per parameter per step.
//   sgd_update(param, grad, momentum_buf, hyper) -> (param, momentum_buf)
//   sgd_plain_update(param, grad, hyper) -> (param,)                      (momentum == 0)
//   adam_update(param, grad, exp_avg, exp_avg_sq, step, hyper) -> (param, exp_avg, exp_avg_sq, step)
// `hyper` is a small float32 vector of hyper-parameters (layouts in unified/ops/optim.py, the
// k* constants below), read from memory on every call so a traced plan sees a changed lr.
// Outputs may alias the inputs they replace (eager runs them in place through
// dispatch.apply_update): each element is read before it is written, and no element reads
// another. Every tensor operand is float32 of the param's shape (any strides). The math is
// PyTorch's formula in the order of the composed ops it replaced (unified/optim/*.py).
#include <cmath>
#include <cstdint>

#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

// SGD hyper layout
constexpr int kSgdLr = 0, kSgdMomentum = 1, kSgdKeep = 2 /* 1 - dampening */,
              kSgdWeightDecay = 3, kSgdNesterov = 4, kSgdMaximize = 5, kSgdFirst = 6,
              kSgdSize = 7;
// Adam hyper layout
constexpr int kAdamLr = 0, kAdamBeta1 = 1, kAdamBeta2 = 2, kAdamOneMinusBeta1 = 3,
              kAdamOneMinusBeta2 = 4, kAdamEps = 5, kAdamWeightDecay = 6,
              kAdamDecay = 7 /* 1 - lr * weight_decay when decoupled, else 1 */,
              kAdamDecoupled = 8, kAdamMaximize = 9, kAdamSize = 10;

// Up to 8 same-shaped operands walked together; contiguous operands take a flat loop.
struct Walk {
  int n = 0;
  const TensorView* views[8];
  bool contiguous = true;
};

// fn(at) per element, where at(k) is operand k's element offset (the flat index when every
// operand is contiguous, so the loop vectorizes).
template <class Fn>
void walk_elements(const Walk& w, Fn fn) {
  const TensorView& first = *w.views[0];
  const int64_t numel = first.numel();
  if (w.contiguous) {
    parallel_for(numel, kGrainElements, [&](int64_t begin, int64_t end) {
#pragma GCC ivdep
      for (int64_t i = begin; i < end; ++i) fn([i](int) { return i; });  // same-index aliasing only
    });
    return;
  }
  // strided: an odometer over the shape (single thread; optimizer operands are rarely views)
  int64_t idx[kMaxDims] = {0}, off[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < numel; ++i) {
    fn([&off](int k) { return off[k]; });
    for (int d = first.ndim - 1; d >= 0; --d) {
      for (int k = 0; k < w.n; ++k) off[k] += w.views[k]->strides[d];
      if (++idx[d] < first.shape[d]) break;
      for (int k = 0; k < w.n; ++k) off[k] -= w.views[k]->strides[d] * first.shape[d];
      idx[d] = 0;
    }
  }
}

// Checks every tensor operand is float32 of param's shape and hyper holds `hyper_size`
// contiguous floats; collects the tensor operands (inputs then outputs) into `walk`.
Status check_operands(const KernelArgs& args, const char* kernel, int tensors, int hyper_index,
                      int hyper_size, Walk* walk) {
  const TensorView& param = args.in(0);
  auto add = [&](const TensorView& v, const char* role) -> Status {
    Status s = check_dtype(v, DType::kFloat32, kernel, role);
    if (!s.is_ok()) return s;
    bool same = v.ndim == param.ndim;
    for (int d = 0; same && d < v.ndim; ++d) same = v.shape[d] == param.shape[d];
    if (!same)
      return make_status(StatusCode::kInvalidArgument, kernel, ": ", role, " has shape ",
                         v.shape_str(), ", the param has shape ", param.shape_str());
    walk->views[walk->n++] = &v;
    walk->contiguous = walk->contiguous && v.is_contiguous();
    return Status::ok();
  };
  for (int i = 0; i < tensors; ++i) {
    Status s = add(args.in(i), "input");
    if (!s.is_ok()) return s;
  }
  for (int i = 0; i < args.num_outputs; ++i) {
    Status s = add(args.out(i), "output");
    if (!s.is_ok()) return s;
  }
  const TensorView& hyper = args.in(hyper_index);
  Status s = check_dtype(hyper, DType::kFloat32, kernel, "hyper");
  if (!s.is_ok()) return s;
  if (hyper.ndim != 1 || hyper.shape[0] != hyper_size || hyper.strides[0] != 1)
    return make_status(StatusCode::kInvalidArgument, kernel, ": hyper must be a contiguous "
                       "float32 vector of ", hyper_size, " values, got shape ",
                       hyper.shape_str());
  return Status::ok();
}

// The contiguous SGD loop with every flag a compile-time constant, so it vectorizes (a
// runtime flag inside the loop kept GCC scalar: 3x slower on a 256x256 update).
template <bool kMomentum, bool kNesterov, bool kDecay, bool kFirst>
void sgd_flat(int64_t numel, const float* p_in, const float* g_in, const float* b_in,
              float* p_out, float* b_out, float lr, float momentum, float keep, float wd,
              float sign) {
  parallel_for(numel, kGrainElements, [=](int64_t begin, int64_t end) {
#pragma GCC ivdep
    for (int64_t i = begin; i < end; ++i) {
      const float p = p_in[i];
      float g = sign * g_in[i];
      if (kDecay) g = g + wd * p;
      if (kMomentum) {
        const float b = kFirst ? g : b_in[i] * momentum + keep * g;
        b_out[i] = b;
        g = kNesterov ? g + momentum * b : b;
      }
      p_out[i] = p + -lr * g;
    }
  });
}

using SgdFlatFn = void (*)(int64_t, const float*, const float*, const float*, float*, float*,
                           float, float, float, float, float);

template <bool kMomentum>
SgdFlatFn pick_sgd_flat(bool nesterov, bool decay, bool first) {
  static constexpr SgdFlatFn table[8] = {
      sgd_flat<kMomentum, false, false, false>, sgd_flat<kMomentum, false, false, true>,
      sgd_flat<kMomentum, false, true, false>,  sgd_flat<kMomentum, false, true, true>,
      sgd_flat<kMomentum, true, false, false>,  sgd_flat<kMomentum, true, false, true>,
      sgd_flat<kMomentum, true, true, false>,   sgd_flat<kMomentum, true, true, true>};
  return table[(nesterov ? 4 : 0) + (decay ? 2 : 0) + (first ? 1 : 0)];
}

template <bool kMomentum>
Status sgd_kernel(const KernelArgs& args, const char* name) {
  const int tensors = kMomentum ? 3 : 2;
  Status s = check_arity(args, name, tensors + 1, kMomentum ? 2 : 1);
  if (!s.is_ok()) return s;
  Walk w;
  s = check_operands(args, name, tensors, tensors, kSgdSize, &w);
  if (!s.is_ok()) return s;
  const float* h = args.in(tensors).ptr<float>();
  const float lr = h[kSgdLr], momentum = h[kSgdMomentum], keep = h[kSgdKeep];
  const float weight_decay = h[kSgdWeightDecay];
  const bool nesterov = h[kSgdNesterov] != 0.0f, maximize = h[kSgdMaximize] != 0.0f;
  const bool first = h[kSgdFirst] != 0.0f;
  const float* p_in = args.in(0).ptr<float>();
  const float* g_in = args.in(1).ptr<float>();
  const float* b_in = kMomentum ? args.in(2).ptr<float>() : nullptr;
  float* p_out = args.out(0).ptr<float>();
  float* b_out = kMomentum ? args.out(1).ptr<float>() : nullptr;
  if (w.contiguous) {
    pick_sgd_flat<kMomentum>(nesterov, weight_decay != 0.0f, first)(
        args.in(0).numel(), p_in, g_in, b_in, p_out, b_out, lr, momentum, keep, weight_decay,
        maximize ? -1.0f : 1.0f);
    return Status::ok();
  }
  // operand order in the walk: p, g, [buf], p_out, [buf_out]
  const int po = kMomentum ? 3 : 2, bo = 4;
  walk_elements(w, [=](auto at) {
    const float p = p_in[at(0)];
    float g = g_in[at(1)];
    if (maximize) g = -g;
    if (weight_decay != 0.0f) g = g + weight_decay * p;
    if (kMomentum) {
      float b = first ? g : b_in[at(2)] * momentum + keep * g;
      b_out[at(bo)] = b;
      g = nesterov ? g + momentum * b : b;
    }
    p_out[at(po)] = p + -lr * g;
  });
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status sgd_update(const KernelArgs& args) { return sgd_kernel<true>(args, "sgd_update"); }
Status sgd_plain_update(const KernelArgs& args) {
  return sgd_kernel<false>(args, "sgd_plain_update");
}

Status adam_update(const KernelArgs& args) {
  const char* name = "adam_update";
  Status s = check_arity(args, name, 6, 4);
  if (!s.is_ok()) return s;
  const TensorView& step_in = args.in(4);
  const TensorView& step_out = args.out(3);
  if (step_in.dtype != DType::kFloat32 || step_in.numel() != 1 ||
      step_out.dtype != DType::kFloat32 || step_out.numel() != 1)
    return make_status(StatusCode::kInvalidArgument, name, ": step must be a one-element "
                       "float32 tensor, got ", dtype_name(step_in.dtype), " of shape ",
                       step_in.shape_str());
  // the walk holds p, g, m, v (inputs) then p_out, m_out, v_out; step is checked above
  Walk w;
  KernelArgs tensor_args = args;
  tensor_args.num_outputs = 3;
  s = check_operands(tensor_args, name, 4, 5, kAdamSize, &w);
  if (!s.is_ok()) return s;
  const float* h = args.in(5).ptr<float>();
  const float lr = h[kAdamLr], beta1 = h[kAdamBeta1], beta2 = h[kAdamBeta2];
  const float w1 = h[kAdamOneMinusBeta1], w2 = h[kAdamOneMinusBeta2], eps = h[kAdamEps];
  const float weight_decay = h[kAdamWeightDecay], decay = h[kAdamDecay];
  const bool decoupled = h[kAdamDecoupled] != 0.0f, maximize = h[kAdamMaximize] != 0.0f;
  const float t = step_in.ptr<float>()[0] + 1.0f;
  step_out.ptr<float>()[0] = t;
  const float bias_correction1 = 1.0f - std::pow(beta1, t);
  const float bias_correction2 = 1.0f - std::pow(beta2, t);
  const float neg_step_size = -(lr / bias_correction1);
  const float bias_correction2_sqrt = std::sqrt(bias_correction2);
  const float* p_in = args.in(0).ptr<float>();
  const float* g_in = args.in(1).ptr<float>();
  const float* m_in = args.in(2).ptr<float>();
  const float* v_in = args.in(3).ptr<float>();
  float* p_out = args.out(0).ptr<float>();
  float* m_out = args.out(1).ptr<float>();
  float* v_out = args.out(2).ptr<float>();
  walk_elements(w, [=](auto at) {
    float p = p_in[at(0)];
    float g = g_in[at(1)];
    if (maximize) g = -g;
    if (weight_decay != 0.0f) {
      if (decoupled) p = p * decay;
      else g = g + p * weight_decay;
    }
    float m = m_in[at(2)];
    m = w1 < 0.5f ? m + (g - m) * w1 : g - (g - m) * (1.0f - w1);  // PyTorch's lerp
    const float v = v_in[at(3)] * beta2 + g * g * w2;
    const float denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    m_out[at(5)] = m;
    v_out[at(6)] = v;
    p_out[at(4)] = p + m / denom * neg_step_size;
  });
  return Status::ok();
}

void register_optim_kernels(KernelRegistry& reg) {
  reg.add("sgd_update", sgd_update);
  reg.add("sgd_plain_update", sgd_plain_update);
  reg.add("adam_update", adam_update);
}

}  // namespace unified
