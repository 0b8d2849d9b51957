// Comm: the process group the collective kernels (core_cpp/kernels/collective.cpp) talk to.
// There is no compile-time MPI dependency: Python (unified/distributed/_mpi.py) passes the
// addresses of MPI functions in the libmpi that mpi4py loaded and the handles of the
// communicator, datatypes and reduction ops as integers (handles of 4 bytes, as MPICH's ints,
// or 8, as pointers), and comm_set stores them. A `local` comm is a world of one process
// without MPI: every collective is then an identity (the op table runs that way).
// Asynchronous all-reduce goes through slots: comm_start copies its input into the slot's
// buffer (allocated once per slot and size) and posts MPI_Iallreduce; comm_wait completes it
// and copies the result out.
#pragma once
#include <cstdint>
#include <string>

#include "unified/status.h"
#include "unified/tensor_view.h"

namespace unified {

class KernelRegistry;
// The collective kernels (core_cpp/kernels/collective.cpp), registered by all_kernels().
void register_collective_kernels(KernelRegistry& reg);

struct CommConfig {
  bool local = true;  // no MPI: a world of one process
  int64_t rank = 0;
  int64_t size = 1;
  int32_t handle_bytes = 4;   // sizeof(MPI_Comm) == sizeof(MPI_Datatype) == sizeof(MPI_Op)
  int32_t request_bytes = 4;  // sizeof(MPI_Request)
  int32_t status_bytes = 20;  // sizeof(MPI_Status)
  int64_t comm = 0;           // MPI_Comm handle
  int64_t dtype_float32 = 0, dtype_int32 = 0, dtype_int64 = 0;  // MPI_Datatype handles
  int64_t op_sum = 0, op_max = 0, op_min = 0;                   // MPI_Op handles
  int64_t in_place = -1;                                        // the value of MPI_IN_PLACE
  // Function addresses (MPI_Allreduce, MPI_Iallreduce, ...).
  int64_t fn_allreduce = 0, fn_iallreduce = 0, fn_wait = 0, fn_test = 0, fn_bcast = 0,
          fn_allgather = 0, fn_reduce_scatter_block = 0, fn_barrier = 0;
};

enum class ReduceOp : int { kSum = 0, kMean = 1, kMax = 2, kMin = 3 };

// Parses "sum", "mean", "max", "min"; `who` names the caller in the error.
Status parse_reduce_op(const std::string& name, const char* who, ReduceOp* op);

// Replaces the communicator; fails while an asynchronous all-reduce is in flight.
Status comm_set(const CommConfig& config);
// Forgets the communicator (collectives then fail with a clear Status); frees slot buffers.
Status comm_clear();
bool comm_is_set();
CommConfig comm_config();

// Blocking collectives over contiguous buffers of `count` elements.
Status comm_allreduce(void* buf, int64_t count, DType dtype, ReduceOp op, const char* who);
Status comm_bcast(void* buf, int64_t count, DType dtype, int64_t root, const char* who);
// recv holds size * count elements; rank r's `count` elements are already at r * count.
Status comm_allgather_in_place(void* recv, int64_t count, DType dtype, const char* who);
// send holds size * count elements; recv gets this rank's block of the reduction.
Status comm_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op,
                           const char* who);
Status comm_barrier(const char* who);
// Scratch memory owned by the comm (grown, never shrunk), for non-contiguous inputs.
void* comm_scratch(int64_t nbytes);

// Asynchronous all-reduce: copies x (any strides) into slot `slot`'s buffer and posts the
// reduction; *sequence identifies this start (the token comm_wait checks).
Status comm_start(int64_t slot, const TensorView& x, ReduceOp op, int64_t* sequence);
// Waits for slot `slot`'s reduction started as `sequence` and writes it into out (same numel
// and dtype as the start's input, any strides); mean divides by the world size here.
Status comm_wait(int64_t slot, int64_t sequence, const TensorView& out);

struct CommStats {
  int64_t slot_bytes = 0;        // bytes held by slot buffers
  int64_t slot_allocations = 0;  // slot buffer (re)allocations so far
  int64_t in_flight = 0;         // started, not yet waited
  int64_t started = 0;           // comm_start calls so far
};
CommStats comm_stats();

}  // namespace unified
