// unified._core bindings of the communicator (core_cpp/src/comm.cpp): set_comm, clear_comm,
// comm_info, comm_stats. Bindings only; module.cpp calls bind_comm(m). Python fills the
// configuration from mpi4py in unified/distributed/_mpi.py.
#include <pybind11/pybind11.h>

#include <string>

#include "unified/comm.h"

namespace py = pybind11;

namespace unified {
namespace {

[[noreturn]] void raise_comm_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kTypeError: throw py::type_error(s.message());
    case StatusCode::kInvalidArgument: throw py::value_error(s.message());
    default: throw std::runtime_error(s.message());
  }
}

int64_t take_int(py::dict& config, const char* key) {
  if (!config.contains(key)) throw py::key_error(std::string("set_comm: missing key '") + key + "'");
  int64_t value = config[key].cast<int64_t>();
  config.attr("pop")(key);
  return value;
}

CommConfig config_from_dict(const py::dict& given) {
  py::dict config(given.attr("copy")());
  CommConfig c;
  c.local = config.contains("local") && config["local"].cast<bool>();
  if (config.contains("local")) config.attr("pop")("local");
  c.rank = take_int(config, "rank");
  c.size = take_int(config, "size");
  if (!c.local) {
    c.handle_bytes = static_cast<int32_t>(take_int(config, "handle_bytes"));
    c.request_bytes = static_cast<int32_t>(take_int(config, "request_bytes"));
    c.status_bytes = static_cast<int32_t>(take_int(config, "status_bytes"));
    c.comm = take_int(config, "comm");
    c.dtype_float32 = take_int(config, "float32");
    c.dtype_int32 = take_int(config, "int32");
    c.dtype_int64 = take_int(config, "int64");
    c.op_sum = take_int(config, "sum");
    c.op_max = take_int(config, "max");
    c.op_min = take_int(config, "min");
    c.in_place = take_int(config, "in_place");
    c.fn_allreduce = take_int(config, "MPI_Allreduce");
    c.fn_iallreduce = take_int(config, "MPI_Iallreduce");
    c.fn_wait = take_int(config, "MPI_Wait");
    c.fn_test = take_int(config, "MPI_Test");
    c.fn_bcast = take_int(config, "MPI_Bcast");
    c.fn_allgather = take_int(config, "MPI_Allgather");
    c.fn_reduce_scatter_block = take_int(config, "MPI_Reduce_scatter_block");
    c.fn_barrier = take_int(config, "MPI_Barrier");
  }
  if (config.size() != 0)
    throw py::key_error("set_comm: unknown keys " + py::str(config.attr("keys")()).cast<std::string>());
  return c;
}

}  // namespace

void bind_comm(py::module_& m) {
  m.def("set_comm", [](const py::dict& config) {
    Status st = comm_set(config_from_dict(config));
    if (!st.is_ok()) raise_comm_status(st);
  }, py::arg("config"),
        "Set the communicator of the collective kernels: {'local': True, 'rank': 0, 'size': 1} "
        "for one process, else rank, size, MPI handle/request/status sizes, handles (comm, "
        "float32, int32, int64, sum, max, min, in_place) and MPI function addresses.");
  m.def("clear_comm", [] {
    Status st = comm_clear();
    if (!st.is_ok()) raise_comm_status(st);
  }, "Forget the communicator and free the all-reduce slot buffers.");
  m.def("comm_info", [] {
    py::dict d;
    CommConfig c = comm_config();
    d["set"] = comm_is_set();
    d["local"] = c.local;
    d["rank"] = c.rank;
    d["size"] = c.size;
    return d;
  }, "{'set', 'local', 'rank', 'size'} of the current communicator.");
  m.def("comm_stats", [] {
    CommStats s = comm_stats();
    py::dict d;
    d["slot_bytes"] = s.slot_bytes;
    d["slot_allocations"] = s.slot_allocations;
    d["in_flight"] = s.in_flight;
    d["started"] = s.started;
    return d;
  }, "All-reduce slot buffers: bytes held, (re)allocations so far, requests in flight, starts.");
}

}  // namespace unified
