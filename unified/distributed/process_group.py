"""The process group: `init()` connects this process to the others (MPI through mpi4py, see
_mpi.py) and hands the communicator to the C++ collective kernels; `get_rank()`,
`get_world_size()`, `is_initialized()`, `destroy_process_group()`. Rank and world size come
from MPI, so a script runs the same under `python -m unified.distributed.launch`, a user's
own `mpirun`/`srun`, or alone (a world of one). Collectives are in collectives.py, fault
handling in faults.py and watchdog.py."""

from __future__ import annotations

import logging
from typing import Any

from unified import _core
from unified.distributed import _mpi, faults, watchdog
from unified.distributed import nccl as nccl_backend

log = logging.getLogger("unified.distributed")

BACKENDS = ("mpi", "local")


class _World:
    """What init() set up; one per process."""

    backend: str | None = None
    rank: int = 0
    size: int = 1
    comm: Any = None  # the mpi4py communicator the kernels use (a duplicate of COMM_WORLD)


_WORLD = _World()


def init(backend: str | None = None, nccl: bool | None = None) -> None:
    """Join the process group. backend "mpi" (rank and size from the MPI launcher), "local"
    (a world of one process, no MPI), or None: "mpi" when mpi4py is installed, else "local"
    unless an MPI launcher started this process. On MPI, collectives of GPU tensors use NCCL
    (nccl.py): `nccl` None uses it when every rank has CuPy, NCCL and a GPU, True requires
    it (an error at the first GPU collective otherwise), False never uses it. Installs the
    fault handler (faults.py) so a rank that raises stops every rank, and the watchdog
    (watchdog.py) so a rank that leaves early stops the ranks waiting for it. Calling it
    again does nothing.

    >>> import unified.distributed as dist
    >>> dist.init(backend="local")
    >>> dist.get_rank(), dist.get_world_size()
    (0, 1)
    >>> dist.destroy_process_group()
    """
    if _WORLD.backend is not None:
        return
    if not hasattr(_core, "set_comm"):
        raise RuntimeError("unified.distributed: this build of unified._core has no "
                           "communicator (core_cpp/python/comm_bindings.cpp is not compiled "
                           "in); rebuild with `pip install -e .` or tools/dev_build.sh")
    if backend is None:
        backend = _default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"init: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "local":
        _core.set_comm({"local": True, "rank": 0, "size": 1})
    else:
        mpi = _mpi.import_mpi()
        comm = mpi.COMM_WORLD.Dup()  # our own context: user MPI traffic cannot interleave
        watching = comm.Get_size() > 1 and watchdog.supported(mpi)
        _core.set_comm(_mpi.config(mpi, comm, watchdog.wrap if watching else None))
        _WORLD.comm = comm
        _WORLD.rank, _WORLD.size = comm.Get_rank(), comm.Get_size()
        faults.install(_WORLD.rank)
        watchdog.start(mpi, _WORLD.rank, _WORLD.size)
        nccl_backend.install(mpi, comm, nccl)
    _WORLD.backend = backend
    log.debug("rank %d of %d joined (%s)", _WORLD.rank, _WORLD.size, backend)


def _default_backend() -> str:
    try:
        _mpi.import_mpi()
    except ImportError:
        if _mpi.launched_by_mpi():
            raise
        log.warning("unified.distributed: mpi4py is not installed; running as a world of one "
                    "process (pip install 'unified[dist]' for several)")
        return "local"
    return "mpi"


def destroy_process_group() -> None:
    """Leave the group: the collective kernels have no communicator afterwards, and the
    other ranks are told (a rank still waiting in a collective then stops, watchdog.py)."""
    if _WORLD.backend is None:
        return
    watchdog.leave(1)
    nccl_backend.uninstall()
    _core.clear_comm()
    if _WORLD.comm is not None:
        _WORLD.comm.Free()
    _WORLD.backend, _WORLD.comm, _WORLD.rank, _WORLD.size = None, None, 0, 1


def is_initialized() -> bool:
    return _WORLD.backend is not None


def get_rank() -> int:
    """This process's rank (0 when init() has not run)."""
    return _WORLD.rank


def get_world_size() -> int:
    """The number of processes (1 when init() has not run)."""
    return _WORLD.size


def backend() -> str | None:
    return _WORLD.backend


def require_init(what: str) -> None:
    if _WORLD.backend is None:
        raise RuntimeError(f"{what}: call unified.distributed.init() first")
