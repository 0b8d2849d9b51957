// Normalization kernels: batch_norm over (N, C, *) per channel and layer_norm over the trailing
// normalized dims, each with a backward kernel giving (grad_input, grad_weight, grad_bias).
// These read C-contiguous tensors only (the Python side passes .contiguous() inputs) and say so
// in their status otherwise. Statistics accumulate in double. Ops: unified/ops/nn.py.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "unified/packet_math.h"

#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

Status check_contiguous_floats(const KernelArgs& args, const char* name, int num_inputs,
                               int num_outputs) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, name, num_inputs, num_outputs));
  for (int i = 0; i < num_inputs + num_outputs; ++i) {
    const bool is_input = i < num_inputs;
    const TensorView& v = is_input ? args.in(i) : args.out(i - num_inputs);
    const int index = is_input ? i : i - num_inputs;
    UNIFIED_RETURN_IF_ERROR(check_dtype(v, DType::kFloat32, name, is_input ? "input" : "output"));
    if (v.numel() > 0 && !v.is_contiguous())
      return make_status(StatusCode::kInvalidArgument, name, ": ", is_input ? "input " : "output ",
                         index, " ", v.shape_str(), " must be contiguous (call .contiguous())");
  }
  return Status::ok();
}

// Every operand's element count against the expected one (inputs, then outputs).
Status check_sizes(const KernelArgs& args, const char* name, std::initializer_list<int64_t> inputs,
                   std::initializer_list<int64_t> outputs) {
  int i = 0;
  for (int64_t expected : inputs) {
    const TensorView& v = args.in(i);
    if (v.numel() != expected)
      return make_status(StatusCode::kInvalidArgument, name, ": input ", i, " has shape ",
                         v.shape_str(), ", expected ", expected, " elements");
    ++i;
  }
  i = 0;
  for (int64_t expected : outputs) {
    const TensorView& v = args.out(i);
    if (v.numel() != expected)
      return make_status(StatusCode::kInvalidArgument, name, ": output ", i, " has shape ",
                         v.shape_str(), ", expected ", expected, " elements");
    ++i;
  }
  return Status::ok();
}

// (N, C, S) view of a (N, C, *) tensor.
struct ChannelLayout {
  int64_t n = 0, c = 0, s = 1;
};

Status channel_layout(const char* name, const TensorView& x, ChannelLayout* layout) {
  if (x.ndim < 2)
    return make_status(StatusCode::kInvalidArgument, name, ": input must have at least 2 dims "
                       "(N, C, ...), got ", x.shape_str());
  layout->n = x.shape[0];
  layout->c = x.shape[1];
  layout->s = 1;
  for (int d = 2; d < x.ndim; ++d) layout->s *= x.shape[d];
  return Status::ok();
}

// Mean and biased variance of channel c: two passes; each row is reduced with packet sums in
// a fixed order (packet_math.h) and the rows are accumulated in double.
void channel_stats(const float* xp, const ChannelLayout& L, int64_t c, double* mean, double* var) {
  double sum = 0.0, sq = 0.0;
  for (int64_t n = 0; n < L.n; ++n) sum += pk::sum(xp + (n * L.c + c) * L.s, L.s);
  const double count = static_cast<double>(L.n * L.s);
  *mean = sum / count;
  const pk::Packet m = pk::set1(static_cast<float>(*mean));
  for (int64_t n = 0; n < L.n; ++n)
    sq += pk::sum(xp + (n * L.c + c) * L.s, nullptr, L.s, [&](const pk::Packet& x, const pk::Packet&) {
      pk::Packet d = Eigen::internal::psub(x, m);
      return Eigen::internal::pmul(d, d);
    });
  *var = sq / count;
}

// *sg = sum of g[i] and *sgx = sum of g[i] * (x[i] - m) over i < n in one pass over g and x,
// each summed exactly as pk::sum does (whole packets from index 0, the zero-padded tail, one
// horizontal sum), so the results equal two pk::sum calls.
void sum_g_and_gx(const float* g, const float* x, int64_t n, const pk::Packet& m, float* sg,
                  float* sgx) {
  using namespace Eigen::internal;
  pk::Packet acc_g = pk::set1(0.0f), acc_gx = pk::set1(0.0f);
  int64_t i = 0;
  for (; i + pk::kSize <= n; i += pk::kSize) {
    const pk::Packet gv = pk::load(g + i);
    acc_g = padd(acc_g, gv);
    acc_gx = padd(acc_gx, pmul(gv, psub(pk::load(x + i), m)));
  }
  if (i < n) {
    alignas(64) float bg[pk::kSize] = {0}, bx[pk::kSize] = {0}, r[pk::kSize];
    std::copy(g + i, g + n, bg);
    std::copy(x + i, x + n, bx);
    acc_g = padd(acc_g, pk::load(bg));
    pk::store(r, pmul(pk::load(bg), psub(pk::load(bx), m)));
    std::fill(r + (n - i), r + pk::kSize, 0.0f);
    acc_gx = padd(acc_gx, pk::load(r));
  }
  *sg = predux(acc_g);
  *sgx = predux(acc_gx);
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// ---- batch_norm ---------------------------------------------------------------------------------

// batch_norm(x, running_mean, running_var, weight, bias) -> (y, mean, var). training=1 uses the
// batch's mean and biased variance, else the running ones; mean/var outputs hold what was used.
Status batch_norm(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_contiguous_floats(args, "batch_norm", 5, 3));
  const TensorView& x = args.in(0);
  ChannelLayout L;
  UNIFIED_RETURN_IF_ERROR(channel_layout("batch_norm", x, &L));
  const int64_t c = L.c, numel = x.numel();
  UNIFIED_RETURN_IF_ERROR(check_sizes(args, "batch_norm", {numel, c, c, c, c}, {numel, c, c}));
  const bool training = args.attrs->get_int("training", 0) != 0;
  const double eps = args.attrs->get_float("eps", 1e-5);
  const int64_t count = L.n * L.s;
  if (training && count < 1)
    return make_status(StatusCode::kInvalidArgument, "batch_norm: no values per channel in "
                       "training mode (input ", x.shape_str(), ")");
  const float* xp = x.ptr<float>();
  const float *rm = args.in(1).ptr<float>(), *rv = args.in(2).ptr<float>();
  const float *w = args.in(3).ptr<float>(), *b = args.in(4).ptr<float>();
  float* yp = args.out(0).ptr<float>();
  float *mean_out = args.out(1).ptr<float>(), *var_out = args.out(2).ptr<float>();
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(count, 1));
  parallel_for(L.c, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean = rm[c], var = rv[c];
      if (training) channel_stats(xp, L, c, &mean, &var);
      const double invstd = 1.0 / std::sqrt(var + eps);
      const float scale = static_cast<float>(w[c] * invstd);
      const float shift = static_cast<float>(b[c] - mean * w[c] * invstd);
      for (int64_t n = 0; n < L.n; ++n) {
        const int64_t base = (n * L.c + c) * L.s;
        for (int64_t s = 0; s < L.s; ++s) yp[base + s] = xp[base + s] * scale + shift;
      }
      mean_out[c] = static_cast<float>(mean);
      var_out[c] = static_cast<float>(var);
    }
  });
  return Status::ok();
}

// batch_norm_backward(grad, x, weight, mean, var) -> (grad_x, grad_weight, grad_bias), mean/var
// being batch_norm's statistics outputs. training=1 differentiates through the batch statistics.
Status batch_norm_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_contiguous_floats(args, "batch_norm_backward", 5, 3));
  const TensorView &g = args.in(0), &x = args.in(1);
  ChannelLayout L;
  UNIFIED_RETURN_IF_ERROR(channel_layout("batch_norm_backward", x, &L));
  const int64_t c = L.c, numel = x.numel();
  UNIFIED_RETURN_IF_ERROR(
      check_sizes(args, "batch_norm_backward", {numel, numel, c, c, c}, {numel, c, c}));
  const bool training = args.attrs->get_int("training", 0) != 0;
  const double eps = args.attrs->get_float("eps", 1e-5);
  const int64_t count = L.n * L.s;
  const float *gp = g.ptr<float>(), *xp = x.ptr<float>(), *w = args.in(2).ptr<float>();
  const float *mean_in = args.in(3).ptr<float>(), *var_in = args.in(4).ptr<float>();
  float* gx = args.out(0).ptr<float>();
  float *gw = args.out(1).ptr<float>(), *gb = args.out(2).ptr<float>();
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(count, 1));
  parallel_for(L.c, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = mean_in[c], invstd = 1.0 / std::sqrt(var_in[c] + eps);
      double sum_g = 0.0, sum_gx = 0.0;
      const float mf = static_cast<float>(mean);
      const pk::Packet mp = pk::set1(mf);
      for (int64_t n = 0; n < L.n; ++n) {
        const int64_t base = (n * L.c + c) * L.s;
        float row_g, row_gx;
        sum_g_and_gx(gp + base, xp + base, L.s, mp, &row_g, &row_gx);
        sum_g += row_g;
        sum_gx += row_gx;
      }
      gb[c] = static_cast<float>(sum_g);
      gw[c] = static_cast<float>(sum_gx * invstd);
      // training: gx = k * (g - mean(g) - xhat * mean(g * xhat)), xhat = (x - mean) * invstd
      const float k = static_cast<float>(w[c] * invstd);
      const float mean_g = static_cast<float>(training && count ? sum_g / count : 0.0);
      const float proj =
          static_cast<float>(training && count ? sum_gx * invstd * invstd / count : 0.0);
      for (int64_t n = 0; n < L.n; ++n) {
        const int64_t base = (n * L.c + c) * L.s;
        for (int64_t s = 0; s < L.s; ++s)
          gx[base + s] = k * (gp[base + s] - mean_g - (xp[base + s] - mf) * proj);
      }
    }
  });
  return Status::ok();
}

namespace {
// ---- layer_norm ---------------------------------------------------------------------------------

// Rows of M = prod(normalized_shape) elements.
Status row_layout(const KernelArgs& args, const char* name, const TensorView& x, int64_t* rows,
                  int64_t* m) {
  const std::vector<int64_t> normalized = args.attrs->get_ints("normalized_shape");
  const int k = static_cast<int>(normalized.size());
  bool fits = k <= x.ndim;
  *m = 1;
  for (int i = 0; fits && i < k; ++i) {
    fits = x.shape[x.ndim - k + i] == normalized[i];
    *m *= normalized[i];
  }
  if (!fits)
    return make_status(StatusCode::kInvalidArgument, name, ": input ", x.shape_str(),
                       " does not end with normalized_shape of ", k, " dims");
  *rows = *m ? x.numel() / *m : 0;
  return Status::ok();
}
}  // namespace

// layer_norm(x, weight, bias) -> (y, mean, rstd), mean/rstd with one value per row.
Status layer_norm(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_contiguous_floats(args, "layer_norm", 3, 3));
  const TensorView& x = args.in(0);
  int64_t rows = 0, m = 0;
  UNIFIED_RETURN_IF_ERROR(row_layout(args, "layer_norm", x, &rows, &m));
  UNIFIED_RETURN_IF_ERROR(
      check_sizes(args, "layer_norm", {x.numel(), m, m}, {x.numel(), rows, rows}));
  const double eps = args.attrs->get_float("eps", 1e-5);
  const float *xp = x.ptr<float>(), *w = args.in(1).ptr<float>(), *b = args.in(2).ptr<float>();
  float* yp = args.out(0).ptr<float>();
  float *mean_out = args.out(1).ptr<float>(), *rstd_out = args.out(2).ptr<float>();
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(m, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = xp + r * m;
      double sum = 0.0, sq = 0.0;
      for (int64_t j = 0; j < m; ++j) sum += row[j];
      const double mean = sum / m;
      for (int64_t j = 0; j < m; ++j) sq += (row[j] - mean) * (row[j] - mean);
      const double rstd = 1.0 / std::sqrt(sq / m + eps);
      const float fm = static_cast<float>(mean), fr = static_cast<float>(rstd);
      for (int64_t j = 0; j < m; ++j) yp[r * m + j] = (row[j] - fm) * fr * w[j] + b[j];
      mean_out[r] = fm;
      rstd_out[r] = fr;
    }
  });
  return Status::ok();
}

namespace {
// grad_weight = sum over rows of g * xhat, grad_bias = sum of g: column sums, split by column
// blocks (each thread reads its columns of every row).
void layer_norm_affine_grads(const float* gp, const float* xp, const float* mean,
                             const float* rstd, int64_t rows, int64_t m, float* gw, float* gb) {
  parallel_for(m, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(rows, 1)),
               [&](int64_t j0, int64_t j1) {
    std::vector<double> sum_g(static_cast<size_t>(j1 - j0), 0.0), sum_gx(sum_g);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = r * m;
      for (int64_t j = j0; j < j1; ++j) {
        sum_g[j - j0] += gp[base + j];
        sum_gx[j - j0] += gp[base + j] * (xp[base + j] - mean[r]) * rstd[r];
      }
    }
    for (int64_t j = j0; j < j1; ++j) {
      gb[j] = static_cast<float>(sum_g[j - j0]);
      gw[j] = static_cast<float>(sum_gx[j - j0]);
    }
  });
}
}  // namespace

// layer_norm_backward(grad, x, weight, mean, rstd) -> (grad_x, grad_weight, grad_bias).
Status layer_norm_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_contiguous_floats(args, "layer_norm_backward", 5, 3));
  const TensorView &g = args.in(0), &x = args.in(1);
  int64_t rows = 0, m = 0;
  UNIFIED_RETURN_IF_ERROR(row_layout(args, "layer_norm_backward", x, &rows, &m));
  const int64_t numel = x.numel();
  UNIFIED_RETURN_IF_ERROR(check_sizes(args, "layer_norm_backward", {numel, numel, m, rows, rows},
                                      {numel, m, m}));
  const float *gp = g.ptr<float>(), *xp = x.ptr<float>(), *w = args.in(2).ptr<float>();
  const float *mean = args.in(3).ptr<float>(), *rstd = args.in(4).ptr<float>();
  float* gx = args.out(0).ptr<float>();
  float *gw = args.out(1).ptr<float>(), *gb = args.out(2).ptr<float>();
  // gx = rstd * (w g - mean(w g) - xhat * mean(w g xhat)), row by row
  parallel_for(rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(m, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t base = r * m;
      double sum_wg = 0.0, sum_wgx = 0.0;
      for (int64_t j = 0; j < m; ++j) {
        const double wg = static_cast<double>(w[j]) * gp[base + j];
        sum_wg += wg;
        sum_wgx += wg * (xp[base + j] - mean[r]) * rstd[r];
      }
      const double a = m ? sum_wg / m : 0.0, c = m ? sum_wgx / m : 0.0;
      for (int64_t j = 0; j < m; ++j) {
        const double xhat = (xp[base + j] - mean[r]) * static_cast<double>(rstd[r]);
        gx[base + j] = static_cast<float>(rstd[r] * (w[j] * gp[base + j] - a - xhat * c));
      }
    }
  });
  layer_norm_affine_grads(gp, xp, mean, rstd, rows, m, gw, gb);
  return Status::ok();
}

// Called from register_nn_kernels (nn.cpp).
void register_nn_norm_kernels(KernelRegistry& reg) {
  reg.add("batch_norm", batch_norm);
  reg.add("batch_norm_backward", batch_norm_backward);
  reg.add("layer_norm", layer_norm);
  reg.add("layer_norm_backward", layer_norm_backward);
}

}  // namespace unified
