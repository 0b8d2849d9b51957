// The communicator the collective kernels use (see unified/comm.h): MPI called through
// function addresses handed over from Python, so this file has no MPI headers.
// Handles are passed by value as 4-byte ints (MPICH) or 8-byte pointers (the standard ABI,
// Open MPI): every call goes through `Call<H>` with H the handle type of the configured size.
// Asynchronous all-reduce slots: each slot owns one buffer (reallocated only when the size
// changes), a request and a sequence number; a start on a slot still in flight is an error,
// and each start first tests the other in-flight slots, which progresses them when MPI has no
// progress thread of its own (MPIR_CVAR_ASYNC_PROGRESS unset).
#include "unified/comm.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "unified/copy_loop.h"

namespace unified {
namespace {

constexpr int kMaxRequestBytes = 16;
constexpr int kMaxStatusBytes = 256;

struct Slot {
  std::unique_ptr<char[]> buffer;
  int64_t nbytes = 0;
  int64_t count = 0;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  bool in_flight = false;
  bool done = false;  // completed by a progress test before its wait
  int64_t sequence = 0;
  alignas(8) char request[kMaxRequestBytes] = {0};
};

struct CommState {
  std::mutex mu;
  bool set = false;
  CommConfig config;
  std::vector<Slot> slots;
  std::vector<char> scratch;
  CommStats stats;
};

CommState& state() {
  static CommState* s = new CommState();  // never destroyed: kernels may run at exit
  return *s;
}

template <class H>
struct Call {
  using Allreduce = int (*)(const void*, void*, int, H, H, H);
  using Iallreduce = int (*)(const void*, void*, int, H, H, H, void*);
  using Wait = int (*)(void*, void*);
  using Test = int (*)(void*, int*, void*);
  using Bcast = int (*)(void*, int, H, int, H);
  using Allgather = int (*)(const void*, int, H, void*, int, H, H);
  using ReduceScatterBlock = int (*)(const void*, void*, int, H, H, H);
  using Barrier = int (*)(H);

  template <class Fn>
  static Fn fn(int64_t address) {
    return reinterpret_cast<Fn>(static_cast<intptr_t>(address));
  }
  static H h(int64_t handle) { return static_cast<H>(handle); }
};

Status mpi_error(const char* who, const char* function, int code) {
  return make_status(StatusCode::kInternal, who, ": ", function, " failed with MPI error code ",
                     code);
}

Status need_comm(const CommState& s, const char* who) {
  if (!s.set)
    return make_status(StatusCode::kInvalidArgument, who, ": no communicator is set; call "
                       "unified.distributed.init() first (under `python -m "
                       "unified.distributed.launch -n N script.py` for several processes)");
  return Status::ok();
}

Status mpi_count(int64_t count, const char* who, int* out) {
  if (count > std::numeric_limits<int>::max())
    return make_status(StatusCode::kInvalidArgument, who, ": ", count, " elements exceed MPI's "
                       "int count (", std::numeric_limits<int>::max(), "); split the tensor");
  *out = static_cast<int>(count);
  return Status::ok();
}

Status mpi_dtype(const CommConfig& c, DType dtype, const char* who, int64_t* out) {
  switch (dtype) {
    case DType::kFloat32: *out = c.dtype_float32; return Status::ok();
    case DType::kInt32: *out = c.dtype_int32; return Status::ok();
    case DType::kInt64: *out = c.dtype_int64; return Status::ok();
    default:
      return make_status(StatusCode::kTypeError, who, ": dtype ", dtype_name(dtype),
                         " is not supported (float32, int32, int64)");
  }
}

int64_t mpi_op(const CommConfig& c, ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: return c.op_max;
    case ReduceOp::kMin: return c.op_min;
    default: return c.op_sum;  // mean = sum, divided by the world size afterwards
  }
}

void divide(void* buf, int64_t count, DType dtype, int64_t size) {
  if (dtype != DType::kFloat32 || size == 1) return;
  float* p = static_cast<float*>(buf);
  const float scale = 1.0f / static_cast<float>(size);
  for (int64_t i = 0; i < count; ++i) p[i] *= scale;
}

template <class H>
Status allreduce_impl(const CommConfig& c, void* buf, int count, int64_t dtype, int64_t op,
                      const char* who) {
  using C = Call<H>;
  int rc = C::template fn<typename C::Allreduce>(c.fn_allreduce)(
      reinterpret_cast<void*>(static_cast<intptr_t>(c.in_place)), buf, count, C::h(dtype),
      C::h(op), C::h(c.comm));
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Allreduce", rc);
}

template <class H>
Status iallreduce_impl(const CommConfig& c, Slot& slot, int count, int64_t dtype, int64_t op,
                       const char* who) {
  using C = Call<H>;
  int rc = C::template fn<typename C::Iallreduce>(c.fn_iallreduce)(
      reinterpret_cast<void*>(static_cast<intptr_t>(c.in_place)), slot.buffer.get(), count,
      C::h(dtype), C::h(op), C::h(c.comm), slot.request);
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Iallreduce", rc);
}

Status wait_request(const CommConfig& c, Slot& slot, const char* who) {
  if (slot.done) return Status::ok();
  alignas(8) char status[kMaxStatusBytes];
  int rc = Call<int>::fn<Call<int>::Wait>(c.fn_wait)(slot.request, status);
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Wait", rc);
}

// MPI_Test on every in-flight slot (progress for MPI without a progress thread).
void test_in_flight(CommState& s) {
  alignas(8) char status[kMaxStatusBytes];
  auto test = Call<int>::fn<Call<int>::Test>(s.config.fn_test);
  for (Slot& slot : s.slots) {
    if (!slot.in_flight || slot.done) continue;
    int flag = 0;
    if (test(slot.request, &flag, status) == 0 && flag) slot.done = true;
  }
}

bool wide(const CommConfig& c) { return c.handle_bytes == 8; }

}  // namespace

Status parse_reduce_op(const std::string& name, const char* who, ReduceOp* op) {
  if (name == "sum") *op = ReduceOp::kSum;
  else if (name == "mean") *op = ReduceOp::kMean;
  else if (name == "max") *op = ReduceOp::kMax;
  else if (name == "min") *op = ReduceOp::kMin;
  else
    return make_status(StatusCode::kInvalidArgument, who, ": op must be sum, mean, max or min, "
                       "got '", name, "'");
  return Status::ok();
}

Status comm_set(const CommConfig& config) {
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (const Slot& slot : s.slots)
    if (slot.in_flight)
      return make_status(StatusCode::kInvalidArgument, "set_comm: an asynchronous all-reduce is "
                         "in flight; wait for it before changing the communicator");
  UNIFIED_ENSURE(config.size >= 1 && config.rank >= 0 && config.rank < config.size,
                 "set_comm: rank ", config.rank, " is not in a world of size ", config.size);
  if (config.local) {
    UNIFIED_ENSURE(config.size == 1, "set_comm: a local communicator has one process, got size ",
                   config.size);
  } else {
    UNIFIED_ENSURE(config.handle_bytes == 4 || config.handle_bytes == 8,
                   "set_comm: MPI handles of ", config.handle_bytes, " bytes are not supported "
                   "(4 or 8)");
    UNIFIED_ENSURE(config.request_bytes > 0 && config.request_bytes <= kMaxRequestBytes,
                   "set_comm: MPI_Request of ", config.request_bytes, " bytes (at most ",
                   kMaxRequestBytes, ")");
    UNIFIED_ENSURE(config.status_bytes > 0 && config.status_bytes <= kMaxStatusBytes,
                   "set_comm: MPI_Status of ", config.status_bytes, " bytes (at most ",
                   kMaxStatusBytes, ")");
    const int64_t fns[] = {config.fn_allreduce, config.fn_iallreduce, config.fn_wait,
                           config.fn_test, config.fn_bcast, config.fn_allgather,
                           config.fn_reduce_scatter_block, config.fn_barrier};
    for (int64_t f : fns)
      UNIFIED_ENSURE(f != 0, "set_comm: an MPI function address is missing (0)");
  }
  s.config = config;
  s.set = true;
  return Status::ok();
}

Status comm_clear() {
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (const Slot& slot : s.slots)
    if (slot.in_flight)
      return make_status(StatusCode::kInvalidArgument, "clear_comm: an asynchronous all-reduce "
                         "is in flight; wait for it first");
  s.set = false;
  s.config = CommConfig();
  s.slots.clear();
  std::vector<char>().swap(s.scratch);
  s.stats = CommStats();
  return Status::ok();
}

bool comm_is_set() { return state().set; }

CommConfig comm_config() {
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.config;
}

CommStats comm_stats() {
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  CommStats out = s.stats;
  out.slot_bytes = 0;
  out.in_flight = 0;
  for (const Slot& slot : s.slots) {
    out.slot_bytes += slot.nbytes;
    out.in_flight += slot.in_flight ? 1 : 0;
  }
  return out;
}

void* comm_scratch(int64_t nbytes) {
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (static_cast<int64_t>(s.scratch.size()) < nbytes) s.scratch.resize(nbytes);
  return s.scratch.data();
}

Status comm_allreduce(void* buf, int64_t count, DType dtype, ReduceOp op, const char* who) {
  CommState& s = state();
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  int64_t type = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_dtype(c, dtype, who, &type));
  if (op == ReduceOp::kMean && dtype != DType::kFloat32)
    return make_status(StatusCode::kTypeError, who, ": op mean needs float32, got ",
                       dtype_name(dtype));
  if (c.local || count == 0) return Status::ok();
  int n = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_count(count, who, &n));
  Status st = wide(c) ? allreduce_impl<intptr_t>(c, buf, n, type, mpi_op(c, op), who)
                      : allreduce_impl<int32_t>(c, buf, n, type, mpi_op(c, op), who);
  UNIFIED_RETURN_IF_ERROR(st);
  if (op == ReduceOp::kMean) divide(buf, count, dtype, c.size);
  return Status::ok();
}

Status comm_bcast(void* buf, int64_t count, DType dtype, int64_t root, const char* who) {
  CommState& s = state();
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  int64_t type = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_dtype(c, dtype, who, &type));
  UNIFIED_ENSURE(root >= 0 && root < c.size, who, ": root ", root, " is not a rank of a world "
                 "of size ", c.size);
  if (c.local || count == 0) return Status::ok();
  int n = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_count(count, who, &n));
  int rc = wide(c) ? Call<intptr_t>::fn<Call<intptr_t>::Bcast>(c.fn_bcast)(
                         buf, n, static_cast<intptr_t>(type), static_cast<int>(root),
                         static_cast<intptr_t>(c.comm))
                   : Call<int32_t>::fn<Call<int32_t>::Bcast>(c.fn_bcast)(
                         buf, n, static_cast<int32_t>(type), static_cast<int>(root),
                         static_cast<int32_t>(c.comm));
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Bcast", rc);
}

Status comm_allgather_in_place(void* recv, int64_t count, DType dtype, const char* who) {
  CommState& s = state();
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  int64_t type = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_dtype(c, dtype, who, &type));
  if (c.local || count == 0) return Status::ok();
  int n = 0, total = 0;  // MPI counts are ints: the whole result must fit too
  UNIFIED_RETURN_IF_ERROR(mpi_count(count * c.size, who, &total));
  UNIFIED_RETURN_IF_ERROR(mpi_count(count, who, &n));
  void* in_place = reinterpret_cast<void*>(static_cast<intptr_t>(c.in_place));
  int rc;
  if (wide(c)) {
    using C = Call<intptr_t>;
    rc = C::fn<C::Allgather>(c.fn_allgather)(in_place, 0, C::h(type), recv, n, C::h(type),
                                             C::h(c.comm));
  } else {
    using C = Call<int32_t>;
    rc = C::fn<C::Allgather>(c.fn_allgather)(in_place, 0, C::h(type), recv, n, C::h(type),
                                             C::h(c.comm));
  }
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Allgather", rc);
}

Status comm_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op,
                           const char* who) {
  CommState& s = state();
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  int64_t type = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_dtype(c, dtype, who, &type));
  if (op == ReduceOp::kMean && dtype != DType::kFloat32)
    return make_status(StatusCode::kTypeError, who, ": op mean needs float32, got ",
                       dtype_name(dtype));
  if (count == 0) return Status::ok();
  if (c.local) {
    std::memcpy(recv, send, static_cast<size_t>(count * dtype_itemsize(dtype)));
    return Status::ok();
  }
  int n = 0, total = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_count(count * c.size, who, &total));
  UNIFIED_RETURN_IF_ERROR(mpi_count(count, who, &n));
  int rc;
  if (wide(c)) {
    using C = Call<intptr_t>;
    rc = C::fn<C::ReduceScatterBlock>(c.fn_reduce_scatter_block)(
        send, recv, n, C::h(type), C::h(mpi_op(c, op)), C::h(c.comm));
  } else {
    using C = Call<int32_t>;
    rc = C::fn<C::ReduceScatterBlock>(c.fn_reduce_scatter_block)(
        send, recv, n, C::h(type), C::h(mpi_op(c, op)), C::h(c.comm));
  }
  if (rc != 0) return mpi_error(who, "MPI_Reduce_scatter_block", rc);
  if (op == ReduceOp::kMean) divide(recv, count, dtype, c.size);
  return Status::ok();
}

Status comm_barrier(const char* who) {
  CommState& s = state();
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  if (c.local) return Status::ok();
  int rc = wide(c) ? Call<intptr_t>::fn<Call<intptr_t>::Barrier>(c.fn_barrier)(
                         static_cast<intptr_t>(c.comm))
                   : Call<int32_t>::fn<Call<int32_t>::Barrier>(c.fn_barrier)(
                         static_cast<int32_t>(c.comm));
  return rc == 0 ? Status::ok() : mpi_error(who, "MPI_Barrier", rc);
}

Status comm_start(int64_t slot_id, const TensorView& x, ReduceOp op, int64_t* sequence) {
  const char* who = "all_reduce_start";
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  const CommConfig& c = s.config;
  UNIFIED_ENSURE(slot_id >= 0 && slot_id < (1 << 20), who, ": slot ", slot_id,
                 " is out of range [0, 1048576)");
  int64_t type = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_dtype(c, x.dtype, who, &type));
  if (op == ReduceOp::kMean && x.dtype != DType::kFloat32)
    return make_status(StatusCode::kTypeError, who, ": op mean needs float32, got ",
                       dtype_name(x.dtype));
  int count = 0;
  UNIFIED_RETURN_IF_ERROR(mpi_count(x.numel(), who, &count));
  if (static_cast<int64_t>(s.slots.size()) <= slot_id) s.slots.resize(slot_id + 1);
  Slot& slot = s.slots[slot_id];
  if (slot.in_flight)
    return make_status(StatusCode::kInvalidArgument, who, ": slot ", slot_id, " already has an "
                       "all-reduce in flight (started as #", slot.sequence, " and never waited "
                       "for); every all_reduce_start needs its all_reduce_wait");
  const int64_t nbytes = x.numel() * dtype_itemsize(x.dtype);
  if (slot.nbytes != nbytes || !slot.buffer) {
    slot.buffer.reset(new char[nbytes > 0 ? nbytes : 1]);
    slot.nbytes = nbytes;
    s.stats.slot_allocations += 1;
  }
  const TensorView dst = contiguous_view(slot.buffer.get(), x.dtype, x.ndim, x.shape);
  UNIFIED_RETURN_IF_ERROR(copy_view(dst, x, who));
  if (!c.local) test_in_flight(s);
  slot.count = x.numel();
  slot.dtype = x.dtype;
  slot.op = op;
  slot.done = c.local || count == 0;
  if (!slot.done) {
    Status st = wide(c) ? iallreduce_impl<intptr_t>(c, slot, count, type, mpi_op(c, op), who)
                        : iallreduce_impl<int32_t>(c, slot, count, type, mpi_op(c, op), who);
    UNIFIED_RETURN_IF_ERROR(st);
  }
  slot.in_flight = true;
  slot.sequence += 1;
  s.stats.started += 1;
  *sequence = slot.sequence;
  return Status::ok();
}

Status comm_wait(int64_t slot_id, int64_t sequence, const TensorView& out) {
  const char* who = "all_reduce_wait";
  CommState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  UNIFIED_RETURN_IF_ERROR(need_comm(s, who));
  if (slot_id < 0 || slot_id >= static_cast<int64_t>(s.slots.size()) ||
      !s.slots[slot_id].in_flight || s.slots[slot_id].sequence != sequence)
    return make_status(StatusCode::kInvalidArgument, who, ": the token (slot ", slot_id, ", #",
                       sequence, ") is not in flight: it was already waited for, or its "
                       "all_reduce_start did not run");
  Slot& slot = s.slots[slot_id];
  if (out.numel() != slot.count || out.dtype != slot.dtype)
    return make_status(StatusCode::kInvalidArgument, who, ": the output (", out.numel(), " ",
                       dtype_name(out.dtype), ") differs from the started tensor (", slot.count,
                       " ", dtype_name(slot.dtype), ") of slot ", slot_id);
  Status st = wait_request(s.config, slot, who);
  slot.in_flight = false;
  slot.done = false;
  UNIFIED_RETURN_IF_ERROR(st);
  if (slot.op == ReduceOp::kMean) divide(slot.buffer.get(), slot.count, slot.dtype, s.config.size);
  const TensorView src = contiguous_view(slot.buffer.get(), out.dtype, out.ndim, out.shape);
  return copy_view(out, src, who);
}

}  // namespace unified
