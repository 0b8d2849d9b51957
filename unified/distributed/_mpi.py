"""MPI through mpi4py, handed to the C++ communicator (core_cpp/src/comm.cpp) without a
compile-time MPI dependency: the addresses of the MPI functions in the libmpi that mpi4py
loaded (looked up with ctypes in mpi4py's extension module, whose dependencies include
libmpi) and the integer handles of a duplicate of COMM_WORLD, the datatypes and the ops
(the blocking calls optionally through the watchdog's trampolines, watchdog.py).
Imported only by unified.distributed.init(); mpi4py and an MPI library (the `mpich` wheel:
`pip install unified[dist]`) are optional dependencies."""

from __future__ import annotations

import ctypes
import os
from typing import Any, Callable

FUNCTIONS = ("MPI_Allreduce", "MPI_Iallreduce", "MPI_Wait", "MPI_Test", "MPI_Bcast",
             "MPI_Allgather", "MPI_Reduce_scatter_block", "MPI_Barrier")
# the calls that wait for the other ranks: routed through watchdog.wrap when it is on
BLOCKING = ("MPI_Allreduce", "MPI_Wait", "MPI_Bcast", "MPI_Allgather",
            "MPI_Reduce_scatter_block", "MPI_Barrier")
_U64 = 1 << 64


def import_mpi() -> Any:
    """mpi4py's MPI module, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("unified.distributed needs mpi4py and an MPI library: "
                          "pip install 'unified[dist]' (mpi4py and the mpich wheel); "
                          f"importing mpi4py failed: {exc}") from exc
    return MPI


def _signed(handle: int) -> int:
    """mpi4py gives handles as unsigned machine words; C++ stores them as int64."""
    return handle - _U64 if handle >= _U64 >> 1 else handle


def _library(mpi: Any) -> ctypes.CDLL:
    """The libmpi mpi4py uses: dlsym through its extension module finds libmpi's symbols;
    else the libmpi* mapped into this process (Linux)."""
    ext = ctypes.CDLL(mpi.__file__)
    if hasattr(ext, "MPI_Iallreduce"):
        return ext
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libmpi" in line}
    except OSError:
        paths = set()
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "MPI_Iallreduce"):
            return lib
    raise RuntimeError(f"unified.distributed: cannot find the MPI library mpi4py loaded "
                       f"({mpi.Get_library_version().splitlines()[0]}): no MPI_Iallreduce "
                       f"in {mpi.__file__} or a mapped libmpi")


def config(mpi: Any, comm: Any, wrap: Callable[[str, int, Any], int] | None = None
           ) -> dict[str, Any]:
    """The `_core.set_comm` configuration for communicator `comm`. With `wrap`, each
    BLOCKING function's address is `wrap(name, address, ctypes type of a handle)` instead
    (watchdog.wrap: a trampoline that releases the GIL while MPI waits)."""
    lib = _library(mpi)
    sizes = {mpi._sizeof(t) for t in (mpi.Comm, mpi.Datatype, mpi.Op)}
    if len(sizes) != 1:
        raise RuntimeError(f"unified.distributed: MPI handles of different sizes {sizes} are "
                           "not supported")
    cfg: dict[str, Any] = {
        "rank": comm.Get_rank(), "size": comm.Get_size(), "handle_bytes": sizes.pop(),
        "request_bytes": mpi._sizeof(mpi.Request), "status_bytes": mpi._sizeof(mpi.Status),
        "comm": _signed(mpi._handleof(comm)), "float32": _signed(mpi._handleof(mpi.FLOAT)),
        "int32": _signed(mpi._handleof(mpi.INT32_T)),
        "int64": _signed(mpi._handleof(mpi.INT64_T)),
        "sum": _signed(mpi._handleof(mpi.SUM)), "max": _signed(mpi._handleof(mpi.MAX)),
        "min": _signed(mpi._handleof(mpi.MIN)), "in_place": _signed(int(mpi.IN_PLACE) % _U64),
    }
    handle = ctypes.c_int64 if cfg["handle_bytes"] == 8 else ctypes.c_int32
    for name in FUNCTIONS:
        cfg[name] = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        if wrap is not None and name in BLOCKING:
            cfg[name] = wrap(name, cfg[name], handle)
    return cfg


def launched_by_mpi() -> bool:
    """True when a process manager started this process (mpiexec/hydra, Open MPI, Slurm PMI)."""
    keys = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MPI_LOCALRANKID")
    return any(k in os.environ for k in keys)
