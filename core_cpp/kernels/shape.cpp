// Shape kernels: cat, pad / pad_backward (constant, reflect, replicate, circular),
// slice_backward and slice_scatter. The views (reshape, permute, expand, slice) need no
// kernel: Python takes NumPy views, and the `cast` kernel copies when a layout needs it.
// Inputs may be strided views; outputs are written through their strides.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "unified/copy_loop.h"
#include "unified/registry.h"

namespace unified {
namespace {

// ---- slice_backward / slice_scatter ------------------------------------------------------

// The window of `base` selected by a normalized slice (squeezed dims dropped).
Status slice_window(const KernelArgs& args, const TensorView& base, const char* kernel,
                    TensorView* window) {
  const Attrs& a = *args.attrs;
  const std::vector<int64_t> starts = a.get_ints("starts"), stops = a.get_ints("stops"),
                             steps = a.get_ints("steps"), squeeze = a.get_ints("squeeze");
  const size_t nd = static_cast<size_t>(base.ndim);
  if (starts.size() != nd || stops.size() != nd || steps.size() != nd)
    return make_status(StatusCode::kInvalidArgument, kernel, ": starts/stops/steps need ", nd,
                       " entries for shape ", base.shape_str());
  *window = base;
  window->ndim = 0;
  char* data = static_cast<char*>(base.data);
  for (int d = 0; d < base.ndim; ++d) {
    const int64_t n = base.shape[d], start = starts[d], stop = stops[d], step = steps[d];
    if (step <= 0 || start < 0 || start > stop || stop > n)
      return make_status(StatusCode::kInvalidArgument, kernel, ": slice ", start, ":", stop,
                         ":", step, " does not fit dimension ", d, " of size ", n);
    data += start * base.strides[d] * dtype_itemsize(base.dtype);
    bool squeezed = false;
    for (int64_t s : squeeze) squeezed |= s == d;
    if (squeezed) continue;
    window->shape[window->ndim] = (stop - start + step - 1) / step;
    window->strides[window->ndim] = base.strides[d] * step;
    ++window->ndim;
  }
  window->data = data;
  return Status::ok();
}

Status check_same_shape(const TensorView& a, const TensorView& b, const char* kernel,
                        const char* what) {
  bool same = a.ndim == b.ndim;
  for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
  if (!same)
    return make_status(StatusCode::kInvalidArgument, kernel, ": ", what, " has shape ",
                       b.shape_str(), ", expected ", a.shape_str());
  return Status::ok();
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
// slice_backward(grad): zeros of the input shape with grad written into the slice.
Status slice_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "slice_backward", 1, 1));
  const TensorView &g = args.in(0), &out = args.out(0);
  TensorView window;
  UNIFIED_RETURN_IF_ERROR(slice_window(args, out, "slice_backward", &window));
  UNIFIED_RETURN_IF_ERROR(check_same_shape(window, g, "slice_backward", "grad"));
  zero_view(out);
  return copy_view(window, g, "slice_backward");
}

// slice_scatter(x, src): x with the slice replaced by src (runs in place for setitem).
Status slice_scatter(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "slice_scatter", 2, 1));
  const TensorView &x = args.in(0), &src = args.in(1), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_same_shape(out, x, "slice_scatter", "input"));
  TensorView window;
  UNIFIED_RETURN_IF_ERROR(slice_window(args, out, "slice_scatter", &window));
  UNIFIED_RETURN_IF_ERROR(check_same_shape(window, src, "slice_scatter", "source"));
  if (!same_view(out, x)) UNIFIED_RETURN_IF_ERROR(copy_view(out, x, "slice_scatter"));
  return copy_view(window, src, "slice_scatter");
}

// ---- cat ----------------------------------------------------------------------------------

Status cat(const KernelArgs& args) {
  if (args.num_outputs != 1 || args.num_inputs < 1)
    return make_status(StatusCode::kInvalidArgument, "cat: expected at least 1 input and 1 "
                       "output, got ", args.num_inputs, " and ", args.num_outputs);
  const TensorView& out = args.out(0);
  int64_t dim = args.attrs->get_int("dim", 0);
  if (dim < 0) dim += out.ndim;
  if (dim < 0 || dim >= out.ndim)
    return make_status(StatusCode::kInvalidArgument, "cat: dim ", args.attrs->get_int("dim"),
                       " is out of range for output shape ", out.shape_str());
  int64_t offset = 0;
  for (int i = 0; i < args.num_inputs; ++i) {
    const TensorView& x = args.in(i);
    TensorView window = out;
    window.shape[dim] = x.ndim == out.ndim ? x.shape[dim] : -1;
    if (x.dtype != out.dtype || offset + window.shape[dim] > out.shape[dim])
      return make_status(StatusCode::kInvalidArgument, "cat: input ", i, " (",
                         dtype_name(x.dtype), " ", x.shape_str(), ") does not fit output ",
                         dtype_name(out.dtype), " ", out.shape_str());
    window.data = static_cast<char*>(out.data) +
                  offset * out.strides[dim] * dtype_itemsize(out.dtype);
    UNIFIED_RETURN_IF_ERROR(check_same_shape(window, x, "cat", "an input"));
    UNIFIED_RETURN_IF_ERROR(copy_view(window, x, "cat"));
    offset += x.shape[dim];
  }
  if (offset != out.shape[dim])
    return make_status(StatusCode::kInvalidArgument, "cat: inputs fill ", offset, " of ",
                       out.shape[dim], " entries of dimension ", dim);
  return Status::ok();
}

namespace {
// ---- pad ----------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kReplicate, kCircular };

// For every dim, the input coordinate each output coordinate reads (-1: the constant).
struct PadMaps {
  int ndim = 0;
  std::vector<int64_t> map[kMaxDims];
};

Status make_pad_maps(const KernelArgs& args, const TensorView& in, const TensorView& out,
                     const char* kernel, PadMaps* maps) {
  const std::string mode_name = args.attrs->get_string("mode", "constant");
  PadMode mode = PadMode::kConstant;
  if (mode_name == "reflect") mode = PadMode::kReflect;
  else if (mode_name == "replicate") mode = PadMode::kReplicate;
  else if (mode_name == "circular") mode = PadMode::kCircular;
  else if (mode_name != "constant")
    return make_status(StatusCode::kInvalidArgument, kernel, ": unknown mode '", mode_name, "'");
  const std::vector<int64_t> pad = args.attrs->get_ints("pad");
  if (in.ndim != out.ndim || pad.size() % 2 || static_cast<int>(pad.size() / 2) > in.ndim)
    return make_status(StatusCode::kInvalidArgument, kernel, ": pad of length ", pad.size(),
                       " does not fit input ", in.shape_str(), " and output ", out.shape_str());
  maps->ndim = in.ndim;
  for (int d = 0; d < in.ndim; ++d) {
    const int k = in.ndim - 1 - d;  // pad pairs run from the last dim
    const int64_t lo = 2 * k < static_cast<int>(pad.size()) ? pad[2 * k] : 0;
    const int64_t hi = 2 * k < static_cast<int>(pad.size()) ? pad[2 * k + 1] : 0;
    const int64_t n = in.shape[d];
    if (out.shape[d] != n + lo + hi || (mode != PadMode::kConstant && n == 0 && out.shape[d] > 0))
      return make_status(StatusCode::kInvalidArgument, kernel, ": padding (", lo, ", ", hi,
                         ") of dimension ", d, " maps size ", n, " to ", n + lo + hi,
                         " but the output has ", out.shape[d]);
    std::vector<int64_t>& m = maps->map[d];
    m.resize(static_cast<size_t>(out.shape[d]));
    for (int64_t c = 0; c < out.shape[d]; ++c) {
      int64_t i = c - lo;
      if (mode == PadMode::kConstant) {
        if (i < 0 || i >= n) i = -1;
      } else if (mode == PadMode::kReplicate) {
        i = i < 0 ? 0 : (i >= n ? n - 1 : i);
      } else if (mode == PadMode::kCircular) {
        i = ((i % n) + n) % n;
      } else {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        if (i < 0 || i >= n)
          return make_status(StatusCode::kInvalidArgument, kernel, ": reflect padding (", lo,
                             ", ", hi, ") must be smaller than size ", n, " of dimension ", d);
      }
      m[static_cast<size_t>(c)] = i;
    }
  }
  return Status::ok();
}

// Calls fn(out_offset, in_offset_or_-1) for every output element, rows split across threads
// when `parallel` (the forward writes each output once; the backward accumulates serially).
template <class Fn>
void for_each_padded(const PadMaps& maps, const TensorView& in, const TensorView& out,
                     bool parallel, Fn fn) {
  const int nd = out.ndim;
  if (nd == 0) {
    fn(int64_t{0}, int64_t{0});
    return;
  }
  const int64_t inner = out.shape[nd - 1];
  const int64_t rows = inner ? out.numel() / inner : 0;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t rem = r, out_off = 0, in_off = 0;
      bool outside = false;
      for (int d = nd - 2; d >= 0; --d) {
        const int64_t c = rem % out.shape[d];
        rem /= out.shape[d];
        const int64_t i = maps.map[d][static_cast<size_t>(c)];
        out_off += c * out.strides[d];
        outside |= i < 0;
        in_off += i * in.strides[d];
      }
      const std::vector<int64_t>& last = maps.map[nd - 1];
      for (int64_t c = 0; c < inner; ++c) {
        const int64_t i = last[static_cast<size_t>(c)];
        const bool skip = outside || i < 0;
        fn(out_off + c * out.strides[nd - 1], skip ? -1 : in_off + i * in.strides[nd - 1]);
      }
    }
  };
  if (parallel) {
    parallel_for(rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(inner, 1)), run);
  } else {
    run(0, rows);
  }
}

template <class T>
void pad_typed(const PadMaps& maps, const TensorView& in, const TensorView& out, double value) {
  const T fill = static_cast<T>(value);
  const T* src = in.ptr<T>();
  T* dst = out.ptr<T>();
  for_each_padded(maps, in, out, true,
                  [&](int64_t o, int64_t i) { dst[o] = i < 0 ? fill : src[i]; });
}
}  // namespace

Status pad(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "pad", 1, 1));
  const TensorView &in = args.in(0), &out = args.out(0);
  if (in.dtype != out.dtype)
    return make_status(StatusCode::kTypeError, "pad: dtypes differ: ", dtype_name(in.dtype),
                       " -> ", dtype_name(out.dtype));
  PadMaps maps;
  UNIFIED_RETURN_IF_ERROR(make_pad_maps(args, in, out, "pad", &maps));
  const double value = args.attrs->get_float("value", 0.0);
  switch (in.dtype) {
    case DType::kFloat32: pad_typed<float>(maps, in, out, value); break;
    case DType::kInt32: pad_typed<int32_t>(maps, in, out, value); break;
    case DType::kInt64: pad_typed<int64_t>(maps, in, out, value); break;
    case DType::kUInt8: pad_typed<uint8_t>(maps, in, out, value); break;
    case DType::kBool: pad_typed<bool>(maps, in, out, value != 0.0); break;
  }
  return Status::ok();
}

// pad_backward(grad): input-shaped sums of the grads of every output element that read it.
Status pad_backward(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "pad_backward", 1, 1));
  const TensorView &g = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(g, DType::kFloat32, "pad_backward", "grad"));
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kFloat32, "pad_backward", "output"));
  PadMaps maps;  // the forward's maps: `out` here is the forward input, `g` its output
  UNIFIED_RETURN_IF_ERROR(make_pad_maps(args, out, g, "pad_backward", &maps));
  zero_view(out);
  const float* src = g.ptr<float>();
  float* dst = out.ptr<float>();
  for_each_padded(maps, out, g, false, [&](int64_t o, int64_t i) {
    if (i >= 0) dst[i] += src[o];
  });
  return Status::ok();
}

void register_shape_kernels(KernelRegistry& reg) {
  reg.add("cat", cat);
  reg.add("pad", pad);
  reg.add("pad_backward", pad_backward);
  reg.add("slice_backward", slice_backward);
  reg.add("slice_scatter", slice_scatter);
}

}  // namespace unified
