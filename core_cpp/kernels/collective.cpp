// Collective kernels: all_reduce, broadcast, all_gather, reduce_scatter, barrier, and the
// asynchronous pair all_reduce_start / all_reduce_wait. Each is a thin kernel over the
// communicator in core_cpp/src/comm.cpp (MPI through function addresses set from Python, or a
// local world of one process); ops in unified/ops/collective.py.
// Outputs are C-contiguous (allocated by eager dispatch or planned by the executor); inputs may
// be strided: they are copied into the output (or the comm's scratch) before MPI runs in place.
#include "unified/comm.h"
#include "unified/copy_loop.h"
#include "unified/registry.h"

namespace unified {
namespace {

Status need_contiguous(const TensorView& v, const char* kernel, const char* role) {
  if (!v.is_contiguous())
    return make_status(StatusCode::kInvalidArgument, kernel, ": ", role, " must be contiguous, "
                       "got shape ", v.shape_str());
  return Status::ok();
}

Status reduce_op(const KernelArgs& args, const char* kernel, ReduceOp* op) {
  return parse_reduce_op(args.attrs->get_string("op", "sum"), kernel, op);
}

// out = x, then the collective runs on out in place.
Status copy_into_output(const KernelArgs& args, const char* kernel) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, kernel, 1, 1));
  const TensorView &x = args.in(0), &out = args.out(0);
  UNIFIED_ENSURE(x.numel() == out.numel() && x.dtype == out.dtype, kernel, ": output ",
                 out.shape_str(), " ", dtype_name(out.dtype), " does not match input ",
                 x.shape_str(), " ", dtype_name(x.dtype));
  UNIFIED_RETURN_IF_ERROR(need_contiguous(out, kernel, "output"));
  if (!same_view(out, x)) UNIFIED_RETURN_IF_ERROR(copy_view(out, x, kernel));
  return Status::ok();
}

Status all_reduce(const KernelArgs& args) {
  ReduceOp op;
  UNIFIED_RETURN_IF_ERROR(reduce_op(args, "all_reduce", &op));
  UNIFIED_RETURN_IF_ERROR(copy_into_output(args, "all_reduce"));
  const TensorView& out = args.out(0);
  return comm_allreduce(out.data, out.numel(), out.dtype, op, "all_reduce");
}

Status broadcast(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(copy_into_output(args, "broadcast"));
  const TensorView& out = args.out(0);
  return comm_bcast(out.data, out.numel(), out.dtype, args.attrs->get_int("src", 0), "broadcast");
}

// x of shape (n, ...) -> out of shape (size * n, ...): rank r's x lands in block r.
Status all_gather(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "all_gather", 1, 1));
  const TensorView &x = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(need_contiguous(out, "all_gather", "output"));
  const CommConfig c = comm_config();
  UNIFIED_ENSURE(out.numel() == x.numel() * c.size && out.dtype == x.dtype, "all_gather: output ",
                 out.shape_str(), " is not ", c.size, " blocks of input ", x.shape_str());
  const int64_t itemsize = dtype_itemsize(x.dtype);
  char* block = static_cast<char*>(out.data) + c.rank * x.numel() * itemsize;
  UNIFIED_RETURN_IF_ERROR(copy_view(contiguous_view(block, x.dtype, x.ndim, x.shape), x,
                                    "all_gather"));
  return comm_allgather_in_place(out.data, x.numel(), x.dtype, "all_gather");
}

// x of shape (size * n, ...) -> out of shape (n, ...): block `rank` of the reduction.
Status reduce_scatter(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "reduce_scatter", 1, 1));
  ReduceOp op;
  UNIFIED_RETURN_IF_ERROR(reduce_op(args, "reduce_scatter", &op));
  const TensorView &x = args.in(0), &out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(need_contiguous(out, "reduce_scatter", "output"));
  const CommConfig c = comm_config();
  UNIFIED_ENSURE(x.numel() == out.numel() * c.size && out.dtype == x.dtype, "reduce_scatter: "
                 "input ", x.shape_str(), " is not ", c.size, " blocks of output ",
                 out.shape_str());
  const void* send = x.data;
  if (!x.is_contiguous()) {
    void* scratch = comm_scratch(x.numel() * dtype_itemsize(x.dtype));
    UNIFIED_RETURN_IF_ERROR(copy_view(contiguous_view(scratch, x.dtype, x.ndim, x.shape), x,
                                      "reduce_scatter"));
    send = scratch;
  }
  return comm_reduce_scatter(send, out.data, out.numel(), out.dtype, op, "reduce_scatter");
}

// No inputs; out: an int64 scalar set to 0 (a value the graph can order other ops after).
Status barrier(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "barrier", 0, 1));
  UNIFIED_RETURN_IF_ERROR(check_dtype(args.out(0), DType::kInt64, "barrier", "output"));
  UNIFIED_RETURN_IF_ERROR(comm_barrier("barrier"));
  *args.out(0).ptr<int64_t>() = 0;
  return Status::ok();
}

// x -> token (slot, sequence), int64 of shape (2,).
Status all_reduce_start(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "all_reduce_start", 1, 1));
  const TensorView& token = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(token, DType::kInt64, "all_reduce_start", "token"));
  UNIFIED_ENSURE(token.numel() == 2, "all_reduce_start: the token must have 2 elements, got ",
                 token.shape_str());
  ReduceOp op;
  UNIFIED_RETURN_IF_ERROR(reduce_op(args, "all_reduce_start", &op));
  const int64_t slot = args.attrs->get_int("slot", 0);
  int64_t sequence = 0;
  UNIFIED_RETURN_IF_ERROR(comm_start(slot, args.in(0), op, &sequence));
  int64_t* t = token.ptr<int64_t>();
  t[0] = slot;
  t[token.strides[0]] = sequence;
  return Status::ok();
}

// token -> the reduced tensor (shape and dtype from the op's attrs).
Status all_reduce_wait(const KernelArgs& args) {
  UNIFIED_RETURN_IF_ERROR(check_arity(args, "all_reduce_wait", 1, 1));
  const TensorView& token = args.in(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(token, DType::kInt64, "all_reduce_wait", "token"));
  UNIFIED_ENSURE(token.numel() == 2, "all_reduce_wait: the token must have 2 elements, got ",
                 token.shape_str());
  const int64_t* t = token.ptr<int64_t>();
  return comm_wait(t[0], t[token.strides[0]], args.out(0));
}

}  // namespace

void register_collective_kernels(KernelRegistry& reg) {
  reg.add("all_reduce", all_reduce);
  reg.add("broadcast", broadcast);
  reg.add("all_gather", all_gather);
  reg.add("reduce_scatter", reduce_scatter);
  reg.add("barrier", barrier);
  reg.add("all_reduce_start", all_reduce_start);
  reg.add("all_reduce_wait", all_reduce_wait);
}

}  // namespace unified
