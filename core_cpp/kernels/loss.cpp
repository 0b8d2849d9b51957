// loss kernels: nll_loss (class-index negative log-likelihood: per-class weights, ignore_index,
// mean/sum/none) and nll_loss_backward. log_probs is (N, C, d...) or (C,), target (N, d...) or
// (); every operand may be a strided view. Sums run in double over fixed blocks of targets, so
// the result does not depend on the thread count. Ops: unified/ops/loss.py; registered from
// register_nn_kernels (nn.cpp).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "nn_lines.h"
#include "unified/registry.h"

namespace unified {
namespace {

using namespace nn_detail;

enum class Reduction { kNone, kMean, kSum };

constexpr int64_t kBlockTargets = 4096;  // targets per parallel task (and per partial sum)

Status read_reduction(const KernelArgs& args, const char* name, Reduction* reduction) {
  const std::string value = args.attrs->get_string("reduction", "mean");
  if (value == "mean") *reduction = Reduction::kMean;
  else if (value == "sum") *reduction = Reduction::kSum;
  else if (value == "none") *reduction = Reduction::kNone;
  else
    return make_status(StatusCode::kInvalidArgument, name, ": reduction must be 'mean', 'sum' "
                       "or 'none', got '", value, "'");
  return Status::ok();
}

// The target's positions with three operands' strides: 0 target, 1 the class-shaped operand
// (log_probs or grad_input, skipping its class dim 1), 2 the per-target operand (loss or grad
// for reduction 'none'; strides 0 otherwise).
struct Positions {
  int ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strides[3][kMaxDims] = {{0}};
  int64_t count = 1;
  int64_t class_stride = 0;
  int64_t classes = 0;
};

Positions make_positions(const TensorView& target, const TensorView& classed,
                         const TensorView* per_target) {
  Positions p;
  p.ndim = target.ndim;
  for (int d = 0; d < target.ndim; ++d) {
    p.shape[d] = target.shape[d];
    p.count *= target.shape[d];
    p.strides[0][d] = target.strides[d];
    p.strides[1][d] = classed.strides[d == 0 ? 0 : d + 1];
    p.strides[2][d] = per_target ? per_target->strides[d] : 0;
  }
  const int class_dim = classed.ndim == 1 ? 0 : 1;
  p.class_stride = classed.strides[class_dim];
  p.classes = classed.shape[class_dim];
  return p;
}

// Calls fn(position, offsets) for the targets [begin, end) in row-major order (an odometer, so
// only the first position pays for divisions).
template <class Fn>
void walk_positions(const Positions& p, int64_t begin, int64_t end, Fn fn) {
  if (begin >= end) return;
  int64_t idx[kMaxDims] = {0}, off[3] = {0, 0, 0};
  int64_t rest = begin;
  for (int d = p.ndim - 1; d >= 0; --d) {
    idx[d] = rest % p.shape[d];
    rest /= p.shape[d];
    for (int k = 0; k < 3; ++k) off[k] += idx[d] * p.strides[k][d];
  }
  for (int64_t pos = begin; pos < end; ++pos) {
    fn(pos, off);
    for (int d = p.ndim - 1; d >= 0; --d) {
      for (int k = 0; k < 3; ++k) off[k] += p.strides[k][d];
      if (++idx[d] < p.shape[d]) break;
      for (int k = 0; k < 3; ++k) off[k] -= p.strides[k][d] * p.shape[d];
      idx[d] = 0;
    }
  }
}

// Calls fn(begin, end, block) over fixed blocks of targets, in parallel.
template <class Fn>
void for_each_block(int64_t count, Fn fn) {
  const int64_t blocks = (count + kBlockTargets - 1) / kBlockTargets;
  parallel_for(blocks, std::max<int64_t>(1, kGrainElements / kBlockTargets),
               [&](int64_t first, int64_t last) {
                 for (int64_t b = first; b < last; ++b)
                   fn(b * kBlockTargets, std::min(count, (b + 1) * kBlockTargets), b);
               });
}

// The error for the first (lowest-position) target outside [0, C) that is not ignore_index;
// only called once a parallel loop has seen one.
template <class T>
Status out_of_range(const char* name, const TensorView& target, const Positions& p,
                    int64_t ignore_index) {
  int64_t value = 0;
  bool found = false;
  walk_positions(p, 0, p.count, [&](int64_t, const int64_t* off) {
    const int64_t t = static_cast<int64_t>(target.ptr<T>()[off[0]]);
    if (!found && t != ignore_index && (t < 0 || t >= p.classes)) {
      value = t;
      found = true;
    }
  });
  return make_status(StatusCode::kIndexError, name, ": target ", value, " is out of bounds for ",
                     p.classes, " classes (valid targets are 0..", p.classes - 1,
                     ", or ignore_index=", ignore_index, ")");
}

Status check_weight(const char* name, const TensorView& weight, int64_t classes) {
  UNIFIED_RETURN_IF_ERROR(check_dtype(weight, DType::kFloat32, name, "weight"));
  if (weight.ndim != 1 || weight.shape[0] != classes)
    return make_status(StatusCode::kInvalidArgument, name, ": weight has shape ",
                       weight.shape_str(), ", expected (", classes, ",)");
  return Status::ok();
}

// Checks that `classed` is `target`'s shape with the class dim inserted: (N, C, d...) or (C,).
Status check_class_shape(const char* name, const TensorView& classed, const TensorView& target,
                         const char* role) {
  bool fits = classed.ndim == target.ndim + 1 && classed.ndim >= 1;
  for (int d = 0; fits && d < target.ndim; ++d)
    fits = target.shape[d] == classed.shape[d == 0 ? 0 : d + 1];
  if (!fits)
    return make_status(StatusCode::kInvalidArgument, name, ": ", role, " ", classed.shape_str(),
                       " does not fit target ", target.shape_str(),
                       " (expected (N, C, d...) for target (N, d...), or (C,) for a 0-d target)");
  return Status::ok();
}

// ---- nll_loss ---------------------------------------------------------------------------------

template <class T>
Status nll_loss_typed(const TensorView& x, const TensorView& target, const TensorView& weight,
                      const TensorView& loss, const TensorView& total, Reduction reduction,
                      int64_t ignore_index) {
  const Positions p = make_positions(target, x, reduction == Reduction::kNone ? &loss : nullptr);
  const int64_t blocks = (p.count + kBlockTargets - 1) / kBlockTargets;
  std::vector<double> loss_sums(static_cast<size_t>(blocks)), weight_sums(loss_sums.size());
  FirstError bad;
  const float* xp = x.ptr<float>();
  const float* wp = weight.ptr<float>();
  const int64_t ws = weight.strides[0];
  float* lp = loss.ptr<float>();
  for_each_block(p.count, [&](int64_t begin, int64_t end, int64_t block) {
    double loss_sum = 0.0, weight_sum = 0.0;
    walk_positions(p, begin, end, [&](int64_t pos, const int64_t* off) {
      const int64_t t = static_cast<int64_t>(target.ptr<T>()[off[0]]);
      float term = 0.0f;
      if (t != ignore_index) {
        if (t < 0 || t >= p.classes) {
          bad.record(pos, t);
        } else {
          const float w = wp[t * ws];
          term = -w * xp[off[1] + t * p.class_stride];
          loss_sum += term;
          weight_sum += w;
        }
      }
      if (reduction == Reduction::kNone) lp[off[2]] = term;
    });
    loss_sums[static_cast<size_t>(block)] = loss_sum;
    weight_sums[static_cast<size_t>(block)] = weight_sum;
  });
  if (bad.set.load()) return out_of_range<T>("nll_loss", target, p, ignore_index);
  double loss_sum = 0.0, weight_sum = 0.0;
  for (int64_t b = 0; b < blocks; ++b) {
    loss_sum += loss_sums[static_cast<size_t>(b)];
    weight_sum += weight_sums[static_cast<size_t>(b)];
  }
  if (reduction == Reduction::kMean) lp[0] = static_cast<float>(loss_sum / weight_sum);  // 0/0: nan
  if (reduction == Reduction::kSum) lp[0] = static_cast<float>(loss_sum);
  total.ptr<float>()[0] = static_cast<float>(weight_sum);
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// nll_loss(log_probs, target int64/int32, weight (C,)) -> (loss, total_weight) (attrs
// ignore_index, reduction). loss is 0-d for mean/sum and target-shaped for none.
Status nll_loss(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "nll_loss", 3, 2));
  const TensorView &x = args.in(0), &target = args.in(1), &weight = args.in(2);
  const TensorView &loss = args.out(0), &total = args.out(1);
  Reduction reduction = Reduction::kMean;
  UNIFIED_RETURN_IF_ERROR(read_reduction(args, "nll_loss", &reduction));
  UNIFIED_RETURN_IF_ERROR(check_dtype(x, DType::kFloat32, "nll_loss", "log_probs"));
  UNIFIED_RETURN_IF_ERROR(check_class_shape("nll_loss", x, target, "log_probs"));
  UNIFIED_RETURN_IF_ERROR(check_weight("nll_loss", weight, x.shape[x.ndim == 1 ? 0 : 1]));
  UNIFIED_RETURN_IF_ERROR(check_dtype(loss, DType::kFloat32, "nll_loss", "loss output"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(total, DType::kFloat32, "nll_loss", "total_weight output"));
  if (reduction == Reduction::kNone) {
    UNIFIED_RETURN_IF_ERROR(same_shape("nll_loss", target, loss, "loss output"));
  } else if (loss.numel() != 1) {
    return make_status(StatusCode::kInvalidArgument, "nll_loss: loss output ", loss.shape_str(),
                       " must hold one value for a reduced loss");
  }
  if (total.numel() != 1)
    return make_status(StatusCode::kInvalidArgument, "nll_loss: total_weight output ",
                       total.shape_str(), " must hold one value");
  const int64_t ignore_index = args.attrs->get_int("ignore_index", -100);
  switch (target.dtype) {
    case DType::kInt64:
      return nll_loss_typed<int64_t>(x, target, weight, loss, total, reduction, ignore_index);
    case DType::kInt32:
      return nll_loss_typed<int32_t>(x, target, weight, loss, total, reduction, ignore_index);
    default: return unsupported_dtype("nll_loss", target.dtype);
  }
}

namespace {
// ---- nll_loss_backward ------------------------------------------------------------------------

template <class T>
Status nll_loss_backward_typed(const TensorView& g, const TensorView& target,
                               const TensorView& weight, float total, const TensorView& out,
                               Reduction reduction, int64_t ignore_index) {
  const Positions p = make_positions(target, out, reduction == Reduction::kNone ? &g : nullptr);
  float* op = out.ptr<float>();
  const int64_t n = out.numel();
  parallel_for(n, kGrainElements, [&](int64_t begin, int64_t end) {
    std::memset(op + begin, 0, static_cast<size_t>(end - begin) * sizeof(float));
  });
  const float* gp = g.ptr<float>();
  // mean and sum scale every target by one value; none reads its own grad
  const float scale = reduction == Reduction::kMean ? gp[0] / total : gp[0];
  const float* wp = weight.ptr<float>();
  const int64_t ws = weight.strides[0];
  FirstError bad;
  for_each_block(p.count, [&](int64_t begin, int64_t end, int64_t) {
    walk_positions(p, begin, end, [&](int64_t pos, const int64_t* off) {
      const int64_t t = static_cast<int64_t>(target.ptr<T>()[off[0]]);
      if (t == ignore_index) return;
      if (t < 0 || t >= p.classes) {
        bad.record(pos, t);
        return;
      }
      const float gv = reduction == Reduction::kNone ? gp[off[2]] : scale;
      op[off[1] + t * p.class_stride] = -wp[t * ws] * gv;
    });
  });
  if (bad.set.load()) return out_of_range<T>("nll_loss_backward", target, p, ignore_index);
  return Status::ok();
}
}  // namespace

// nll_loss_backward(grad, target, weight, total_weight) -> grad of log_probs (attrs
// ignore_index, reduction): -weight[t] * grad (/ total_weight for mean) at each target's class.
Status nll_loss_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "nll_loss_backward", 4, 1));
  const TensorView &g = args.in(0), &target = args.in(1), &weight = args.in(2);
  const TensorView &total = args.in(3), &out = args.out(0);
  Reduction reduction = Reduction::kMean;
  UNIFIED_RETURN_IF_ERROR(read_reduction(args, "nll_loss_backward", &reduction));
  UNIFIED_RETURN_IF_ERROR(check_dtype(g, DType::kFloat32, "nll_loss_backward", "grad"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(total, DType::kFloat32, "nll_loss_backward",
                                      "total_weight"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kFloat32, "nll_loss_backward", "output"));
  UNIFIED_RETURN_IF_ERROR(check_class_shape("nll_loss_backward", out, target, "output"));
  UNIFIED_RETURN_IF_ERROR(check_weight("nll_loss_backward", weight,
                                       out.shape[out.ndim == 1 ? 0 : 1]));
  if (out.numel() != 0 && !out.is_contiguous())
    return make_status(StatusCode::kInvalidArgument, "nll_loss_backward: output ",
                       out.shape_str(), " must be contiguous");
  if (reduction == Reduction::kNone) {
    UNIFIED_RETURN_IF_ERROR(same_shape("nll_loss_backward", target, g, "grad"));
  } else if (g.numel() != 1) {
    return make_status(StatusCode::kInvalidArgument, "nll_loss_backward: grad ", g.shape_str(),
                       " must hold one value for a reduced loss");
  }
  if (total.numel() != 1)
    return make_status(StatusCode::kInvalidArgument, "nll_loss_backward: total_weight ",
                       total.shape_str(), " must hold one value");
  const float total_weight = total.ptr<float>()[0];
  const int64_t ignore_index = args.attrs->get_int("ignore_index", -100);
  switch (target.dtype) {
    case DType::kInt64:
      return nll_loss_backward_typed<int64_t>(g, target, weight, total_weight, out, reduction,
                                              ignore_index);
    case DType::kInt32:
      return nll_loss_backward_typed<int32_t>(g, target, weight, total_weight, out, reduction,
                                              ignore_index);
    default: return unsupported_dtype("nll_loss_backward", target.dtype);
  }
}

void register_loss_kernels(KernelRegistry& reg) {
  reg.add("nll_loss", nll_loss);
  reg.add("nll_loss_backward", nll_loss_backward);
}

}  // namespace unified
