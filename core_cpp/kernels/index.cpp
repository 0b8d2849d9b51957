// Index kernels: advanced indexing (index, index_backward, index_put), index_select, gather,
// gather_backward, embedding, embedding_backward, masked_fill. One plan (IndexPlan) describes
// every gather/scatter: a loop over the shape of the dense operand, where each loop dim steps
// either a plain dim of x or the index tensors. Indices are checked before anything is written:
// an out-of-range index returns an IndexError status naming the value and the dimension.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "unified/copy_loop.h"
#include "unified/registry.h"

namespace unified {
namespace {

struct IndexPlan {
  int ndim = 0;  // loop dims: the shape of y (the gathered output or the scattered source)
  int64_t shape[kMaxDims] = {0};
  int64_t x_strides[kMaxDims] = {0};  // x's stride per loop dim (0 where an index picks)
  int64_t y_strides[kMaxDims] = {0};
  int num_indices = 0;
  const TensorView* idx[kMaxDims] = {nullptr};
  int64_t idx_strides[kMaxDims][kMaxDims] = {};  // per index tensor, per loop dim
  int64_t idx_xstride[kMaxDims] = {0};  // x's stride of the dim each index picks
  int64_t idx_size[kMaxDims] = {0};     // x's size of that dim
  int64_t idx_dim[kMaxDims] = {0};      // which dim of x (for messages)
  bool allow_negative = true;           // advanced indexing counts -1 from the end
  bool has_skip = false;                // embedding_backward: ids equal to `skip` add nothing
  int64_t skip = 0;
};

inline int64_t read_index(const TensorView& v, int64_t offset) {
  return v.dtype == DType::kInt64 ? v.ptr<int64_t>()[offset]
                                  : static_cast<int64_t>(v.ptr<int32_t>()[offset]);
}

// Every index value in range, before any output is written.
Status check_indices(const IndexPlan& p, const char* kernel) {
  for (int k = 0; k < p.num_indices; ++k) {
    const TensorView& v = *p.idx[k];
    if (v.dtype != DType::kInt64 && v.dtype != DType::kInt32)
      return make_status(StatusCode::kTypeError, kernel, ": index tensors must be int64 or "
                         "int32, got ", dtype_name(v.dtype));
    const int64_t n = p.idx_size[k], total = v.numel();
    int64_t coord[kMaxDims] = {0};
    for (int64_t e = 0; e < total; ++e) {
      int64_t off = 0;
      for (int d = 0; d < v.ndim; ++d) off += coord[d] * v.strides[d];
      const int64_t i = read_index(v, off);
      const bool negative_ok = p.allow_negative && i >= -n;
      if (i >= n || (i < 0 && !negative_ok))
        return make_status(StatusCode::kIndexError, kernel, ": index ", i,
                           " is out of bounds for dimension ", p.idx_dim[k], " with size ", n,
                           (i < 0 && !p.allow_negative) ? " (negative indices are not allowed)"
                                                        : "");
      for (int d = v.ndim - 1; d >= 0; --d) {
        if (++coord[d] < v.shape[d]) break;
        coord[d] = 0;
      }
    }
  }
  return Status::ok();
}

// Calls fn(x_offset, y_offset) for every loop element; rows split across threads when
// `parallel` (gathers write each y once; scatters may hit one x element twice: serial).
template <class Fn>
void for_each_indexed(const IndexPlan& p, bool parallel, Fn fn) {
  const int nd = p.ndim;
  const int last = nd > 0 ? nd - 1 : 0;
  const int64_t inner = nd > 0 ? p.shape[last] : 1;
  int64_t rows = 1;
  for (int d = 0; d + 1 < nd; ++d) rows *= p.shape[d];
  if (inner == 0) rows = 0;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t rem = r, x_off = 0, y_off = 0, idx_off[kMaxDims] = {0};
      for (int d = nd - 2; d >= 0; --d) {
        const int64_t c = rem % p.shape[d];
        rem /= p.shape[d];
        x_off += c * p.x_strides[d];
        y_off += c * p.y_strides[d];
        for (int k = 0; k < p.num_indices; ++k) idx_off[k] += c * p.idx_strides[k][d];
      }
      for (int64_t c = 0; c < inner; ++c) {
        int64_t xo = x_off + (nd > 0 ? c * p.x_strides[last] : 0);
        bool skipped = false;
        for (int k = 0; k < p.num_indices; ++k) {
          int64_t i = read_index(*p.idx[k], idx_off[k] + (nd > 0 ? c * p.idx_strides[k][last] : 0));
          skipped |= p.has_skip && k == 0 && i == p.skip;
          if (i < 0) i += p.idx_size[k];
          xo += i * p.idx_xstride[k];
        }
        if (!skipped) fn(xo, y_off + (nd > 0 ? c * p.y_strides[last] : 0));
      }
    }
  };
  if (parallel) {
    parallel_for(rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(inner, 1)), run);
  } else {
    run(0, rows);
  }
}

// The index tensors' shapes broadcast together (right-aligned) into batch[0..*nb).
Status broadcast_indices(const TensorView* idx, int k, const char* kernel, int64_t* batch,
                         int* nb) {
  *nb = 0;
  for (int i = 0; i < k; ++i) *nb = std::max(*nb, static_cast<int>(idx[i].ndim));
  for (int j = 0; j < *nb; ++j) {
    batch[j] = 1;
    for (int i = 0; i < k; ++i) {
      const int kd = j - (*nb - idx[i].ndim);
      if (kd < 0 || idx[i].shape[kd] == 1) continue;
      if (batch[j] != 1 && batch[j] != idx[i].shape[kd])
        return make_status(StatusCode::kInvalidArgument, kernel, ": index shapes cannot be "
                           "broadcast together (", idx[0].shape_str(), ", ",
                           idx[i].shape_str(), ")");
      batch[j] = idx[i].shape[kd];
    }
  }
  return Status::ok();
}

// Plan for x[..., idx0, ..., idx1, ...] on `dims` (NumPy placement of the broadcast index
// dims: in place when the dims are consecutive, else first), looping over y's shape.
Status plan_index(const TensorView& x, const TensorView* idx, int k,
                  const std::vector<int64_t>& dims, const TensorView& y, const char* kernel,
                  IndexPlan* p) {
  bool ok = k >= 1 && static_cast<int>(dims.size()) == k;
  for (int i = 0; ok && i < k; ++i)
    ok = dims[i] >= 0 && dims[i] < x.ndim && (i == 0 || dims[i] > dims[i - 1]);
  if (!ok)
    return make_status(StatusCode::kInvalidArgument, kernel, ": ", k, " index tensors do not "
                       "fit dims of length ", dims.size(), " for input ", x.shape_str());
  int nb = 0;
  int64_t batch[kMaxDims];
  UNIFIED_RETURN_IF_ERROR(broadcast_indices(idx, k, kernel, batch, &nb));
  const bool consecutive = dims[k - 1] - dims[0] == k - 1;
  const int lead = consecutive ? static_cast<int>(dims[0]) : 0;  // plain x dims before the batch
  const int loop_nd = x.ndim - k + nb;
  if (loop_nd != y.ndim || loop_nd > kMaxDims)
    return make_status(StatusCode::kInvalidArgument, kernel, ": output ", y.shape_str(),
                       " does not fit input ", x.shape_str(), " indexed on ", k, " dims");
  *p = IndexPlan();
  p->ndim = loop_nd;
  p->num_indices = k;
  int xd = 0;  // next plain x dim
  for (int o = 0; o < loop_nd; ++o) {
    const bool is_batch = o >= lead && o < lead + nb;
    int64_t size;
    if (is_batch) {
      const int j = o - lead;
      size = batch[j];
      for (int i = 0; i < k; ++i) {
        const int kd = j - (nb - idx[i].ndim);
        p->idx_strides[i][o] = (kd >= 0 && idx[i].shape[kd] != 1) ? idx[i].strides[kd] : 0;
      }
    } else {
      while (std::find(dims.begin(), dims.end(), xd) != dims.end()) ++xd;
      size = x.shape[xd];
      p->x_strides[o] = x.strides[xd];
      ++xd;
    }
    if (size != y.shape[o])
      return make_status(StatusCode::kInvalidArgument, kernel, ": output ", y.shape_str(),
                         " does not fit input ", x.shape_str(), " (dimension ", o, ")");
    p->shape[o] = size;
    p->y_strides[o] = y.strides[o];
  }
  for (int i = 0; i < k; ++i) {
    p->idx[i] = &idx[i];
    p->idx_xstride[i] = x.strides[dims[i]];
    p->idx_size[i] = x.shape[dims[i]];
    p->idx_dim[i] = dims[i];
  }
  return Status::ok();
}

// Plan for torch.gather: y[i][j] = x[idx[i][j]][j] (dim 0), looping over idx's shape.
Status plan_gather(const TensorView& x, const TensorView& idx, int64_t dim, const TensorView& y,
                   const char* kernel, IndexPlan* p) {
  if (dim < 0) dim += x.ndim;
  bool ok = dim >= 0 && dim < x.ndim && idx.ndim == x.ndim && y.ndim == x.ndim;
  for (int d = 0; ok && d < x.ndim; ++d)
    ok = y.shape[d] == idx.shape[d] && (d == dim || idx.shape[d] <= x.shape[d]);
  if (!ok)
    return make_status(StatusCode::kInvalidArgument, kernel, ": index ", idx.shape_str(),
                       " and output ", y.shape_str(), " do not fit input ", x.shape_str(),
                       " on dim ", dim);
  *p = IndexPlan();
  p->ndim = x.ndim;
  p->num_indices = 1;
  p->idx[0] = &idx;
  for (int d = 0; d < x.ndim; ++d) {
    p->shape[d] = idx.shape[d];
    p->x_strides[d] = d == dim ? 0 : x.strides[d];
    p->y_strides[d] = y.strides[d];
    p->idx_strides[0][d] = idx.strides[d];
  }
  p->idx_xstride[0] = x.strides[dim];
  p->idx_size[0] = x.shape[dim];
  p->idx_dim[0] = dim;
  p->allow_negative = false;
  return Status::ok();
}

// y[...] = x[indexed] for any dtype (bits are copied).
template <class T>
void gather_bits(const IndexPlan& p, const TensorView& x, const TensorView& y) {
  const T* src = x.ptr<T>();
  T* dst = y.ptr<T>();
  for_each_indexed(p, true, [&](int64_t xo, int64_t yo) { dst[yo] = src[xo]; });
}

Status run_gather(const IndexPlan& p, const TensorView& x, const TensorView& y,
                  const char* kernel) {
  UNIFIED_RETURN_IF_ERROR(check_indices(p, kernel));
  if (x.dtype != y.dtype)
    return make_status(StatusCode::kTypeError, kernel, ": dtypes differ: ", dtype_name(x.dtype),
                       " -> ", dtype_name(y.dtype));
  switch (dtype_itemsize(x.dtype)) {
    case 1: gather_bits<uint8_t>(p, x, y); break;
    case 4: gather_bits<uint32_t>(p, x, y); break;
    case 8: gather_bits<uint64_t>(p, x, y); break;
    default: return unsupported_dtype(kernel, x.dtype);
  }
  return Status::ok();
}

// x[indexed] = y (assign) or += y (accumulate; bool: or), serially so repeats add up.
template <class T>
void scatter_typed(const IndexPlan& p, const TensorView& x, const TensorView& y, bool accumulate) {
  T* dst = x.ptr<T>();
  const T* src = y.ptr<T>();
  if (accumulate) {
    for_each_indexed(p, false, [&](int64_t xo, int64_t yo) { dst[xo] = dst[xo] + src[yo]; });
  } else {
    for_each_indexed(p, false, [&](int64_t xo, int64_t yo) { dst[xo] = src[yo]; });
  }
}

Status run_scatter(const IndexPlan& p, const TensorView& x, const TensorView& y, bool accumulate,
                   const char* kernel) {
  UNIFIED_RETURN_IF_ERROR(check_indices(p, kernel));
  if (x.dtype != y.dtype)
    return make_status(StatusCode::kTypeError, kernel, ": dtypes differ: ", dtype_name(y.dtype),
                       " into ", dtype_name(x.dtype));
  switch (x.dtype) {
    case DType::kFloat32: scatter_typed<float>(p, x, y, accumulate); break;
    case DType::kInt32: scatter_typed<int32_t>(p, x, y, accumulate); break;
    case DType::kInt64: scatter_typed<int64_t>(p, x, y, accumulate); break;
    case DType::kUInt8: scatter_typed<uint8_t>(p, x, y, accumulate); break;
    case DType::kBool: scatter_typed<bool>(p, x, y, accumulate); break;
  }
  return Status::ok();
}

Status check_float_grad(const KernelArgs& args, const char* kernel) {
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.in(0), DType::kFloat32, kernel, "grad"));
  return check_dtype(args.out(0), DType::kFloat32, kernel, "output");
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// ---- advanced indexing --------------------------------------------------------------------

Status index(const KernelArgs& args) {
  if (args.num_inputs < 2 || args.num_outputs != 1)
    return make_status(StatusCode::kInvalidArgument, "index: expected an input, index tensors "
                       "and 1 output, got ", args.num_inputs, " inputs");
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(args.in(0), &args.in(1), args.num_inputs - 1,
                                     args.attrs->get_ints("dims"), args.out(0), "index", &p));
  return run_gather(p, args.in(0), args.out(0), "index");
}

Status index_backward(const KernelArgs& args) {
  if (args.num_inputs < 2 || args.num_outputs != 1)
    return make_status(StatusCode::kInvalidArgument, "index_backward: expected a grad, index "
                       "tensors and 1 output, got ", args.num_inputs, " inputs");
  UNIFIED_RETURN_IF_ERROR(check_float_grad(args, "index_backward"));
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(args.out(0), &args.in(1), args.num_inputs - 1,
                                     args.attrs->get_ints("dims"), args.in(0),
                                     "index_backward", &p));
  UNIFIED_RETURN_IF_ERROR(check_indices(p, "index_backward"));
  zero_view(args.out(0));
  return run_scatter(p, args.out(0), args.in(0), true, "index_backward");
}

// index_put(x, values, idx...): x with x[idx] = values (+= with accumulate); may run in place.
Status index_put(const KernelArgs& args) {
  if (args.num_inputs < 3 || args.num_outputs != 1)
    return make_status(StatusCode::kInvalidArgument, "index_put: expected an input, values, "
                       "index tensors and 1 output, got ", args.num_inputs, " inputs");
  const TensorView &x = args.in(0), &values = args.in(1), &out = args.out(0);
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(out, &args.in(2), args.num_inputs - 2,
                                     args.attrs->get_ints("dims"), values, "index_put", &p));
  UNIFIED_RETURN_IF_ERROR(check_indices(p, "index_put"));
  if (!same_view(out, x)) {
    bool same_shape = out.ndim == x.ndim;
    for (int d = 0; same_shape && d < x.ndim; ++d) same_shape = out.shape[d] == x.shape[d];
    if (!same_shape || out.dtype != x.dtype)
      return make_status(StatusCode::kInvalidArgument, "index_put: output ", out.shape_str(),
                         " does not match input ", x.shape_str());
    UNIFIED_RETURN_IF_ERROR(copy_view(out, x, "index_put"));
  }
  return run_scatter(p, out, values, args.attrs->get_int("accumulate", 0) != 0, "index_put");
}

// ---- index_select, gather, embedding ------------------------------------------------------

Status index_select(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "index_select", 2, 1));
  const TensorView &x = args.in(0), &out = args.out(0);
  TensorView idx = args.in(1);
  if (idx.ndim == 0) {  // a 0-d index selects one entry and keeps the dim
    idx.ndim = 1;
    idx.shape[0] = 1;
    idx.strides[0] = 0;
  }
  TensorView xv = x, ov = out;
  if (x.ndim == 0) {  // a 0-d input behaves as shape (1,)
    xv.ndim = ov.ndim = 1;
    xv.shape[0] = ov.shape[0] = 1;
    xv.strides[0] = ov.strides[0] = 0;
  }
  int64_t dim = args.attrs->get_int("dim", 0);
  if (dim < 0) dim += xv.ndim;
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(xv, &idx, 1, {dim}, ov, "index_select", &p));
  p.allow_negative = false;
  return run_gather(p, xv, ov, "index_select");
}

Status gather(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "gather", 2, 1));
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_gather(args.in(0), args.in(1), args.attrs->get_int("dim", 0),
                                      args.out(0), "gather", &p));
  return run_gather(p, args.in(0), args.out(0), "gather");
}

Status gather_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "gather_backward", 2, 1));
  UNIFIED_RETURN_IF_ERROR(check_float_grad(args, "gather_backward"));
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_gather(args.out(0), args.in(1), args.attrs->get_int("dim", 0),
                                      args.in(0), "gather_backward", &p));
  UNIFIED_RETURN_IF_ERROR(check_indices(p, "gather_backward"));
  zero_view(args.out(0));
  return run_scatter(p, args.out(0), args.in(0), true, "gather_backward");
}

// embedding(ids, weight): weight rows at ids; ids must lie in [0, num_embeddings).
Status embedding(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "embedding", 2, 1));
  const TensorView &ids = args.in(0), &weight = args.in(1);
  if (weight.ndim != 2)
    return make_status(StatusCode::kInvalidArgument, "embedding: weight must be 2-d, got ",
                       weight.shape_str());
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(weight, &ids, 1, {0}, args.out(0), "embedding", &p));
  p.allow_negative = false;
  return run_gather(p, weight, args.out(0), "embedding");
}

// embedding_backward(grad, ids): (num_weights, dim) sums of grad rows per id, except padding_idx.
Status embedding_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "embedding_backward", 2, 1));
  UNIFIED_RETURN_IF_ERROR(check_float_grad(args, "embedding_backward"));
  IndexPlan p;
  UNIFIED_RETURN_IF_ERROR(plan_index(args.out(0), &args.in(1), 1, {0}, args.in(0),
                                     "embedding_backward", &p));
  p.allow_negative = false;
  const int64_t padding_idx = args.attrs->get_int("padding_idx", -1);
  p.has_skip = padding_idx >= 0;
  p.skip = padding_idx;
  UNIFIED_RETURN_IF_ERROR(check_indices(p, "embedding_backward"));
  zero_view(args.out(0));
  return run_scatter(p, args.out(0), args.in(0), true, "embedding_backward");
}

namespace {
// ---- masked_fill --------------------------------------------------------------------------

template <class T>
void masked_fill_typed(const TensorView& out, const TensorView& x, const TensorView& mask,
                       T value) {
  binary_loop<T, T, bool>(out, x, mask, [value](T a, bool m) { return m ? value : a; });
}
}  // namespace

Status masked_fill(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "masked_fill", 2, 1));
  const TensorView &x = args.in(0), &mask = args.in(1), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(mask, DType::kBool, "masked_fill", "mask"));
  if (x.dtype != out.dtype)
    return make_status(StatusCode::kTypeError, "masked_fill: dtypes differ: ",
                       dtype_name(x.dtype), " -> ", dtype_name(out.dtype));
  const double v = args.attrs->get_float("value", 0.0);
  switch (x.dtype) {
    case DType::kFloat32: masked_fill_typed<float>(out, x, mask, static_cast<float>(v)); break;
    case DType::kInt32: masked_fill_typed<int32_t>(out, x, mask, static_cast<int32_t>(v)); break;
    case DType::kInt64: masked_fill_typed<int64_t>(out, x, mask, static_cast<int64_t>(v)); break;
    case DType::kUInt8: masked_fill_typed<uint8_t>(out, x, mask, static_cast<uint8_t>(v)); break;
    case DType::kBool: masked_fill_typed<bool>(out, x, mask, v != 0.0); break;
  }
  return Status::ok();
}

void register_index_kernels(KernelRegistry& reg) {
  reg.add("index", index);
  reg.add("index_backward", index_backward);
  reg.add("index_put", index_put);
  reg.add("index_select", index_select);
  reg.add("gather", gather);
  reg.add("gather_backward", gather_backward);
  reg.add("embedding", embedding);
  reg.add("embedding_backward", embedding_backward);
  reg.add("masked_fill", masked_fill);
}

}  // namespace unified
