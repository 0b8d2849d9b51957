"""GPU collectives through NCCL (CuPy's cupy.cuda.nccl) behind the same API: dist.all_reduce,
broadcast, all_gather, reduce_scatter, barrier, the all_reduce_start/all_reduce_wait pair and
so DataParallel's bucketed all-reduce run on NCCL when their tensors are on a GPU; CPU tensors
keep using MPI (the C++ kernels). Without NCCL, GPU tensors take the host route of
unified/ops/gpu/collective.py (copy to the host, MPI, copy back).

 1. Routing: init() on MPI calls `install`, which makes the GPU implementation (OpDef.gpu) of
    each collective op a `_Route`: on CuPy arrays it uses this process's NcclCommunicator,
    made at the first GPU collective (every rank reaches that call: same program, same
    collectives); on anything else, or when NCCL is off, the previous implementation.
 2. Choosing (`choose`): every rank reports why it cannot use NCCL (`unavailable`: no CuPy,
    no NCCL library, no GPU) over MPI; NCCL is used on all ranks or on none. `nccl=True` in
    init() makes a missing NCCL an error naming the ranks and reasons, `nccl=False` turns it
    off, None (the default) uses it where every rank can.
 3. Joining: every rank uses GPU (local rank mod GPUs per node), rank 0 makes an NCCL unique
    id, MPI broadcasts it, every rank joins NcclCommunicator(world size, id, rank).
 4. Stream order: a collective is queued on the current CuPy stream (results are new arrays,
    as on the CPU; no host synchronization, except barrier, which waits for its stream).
    all_reduce_start copies the tensor into the slot's buffer on the current stream, records
    an event, and queues the in-place all-reduce on a communication stream after that event;
    all_reduce_wait makes the current stream wait for the all-reduce's event and copies the
    result out. So backward kernels keep running while a bucket is reduced.
Limits: float32, int32 and int64; one GPU per rank; the watchdog (watchdog.py) does not see
a rank blocked on a GPU stream; tested on GPUs only where two are present (tests marked
`gpu`), the logic above with a fake NCCL in tests/distributed/test_nccl.py."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

OPS = ("all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier",
       "all_reduce_start", "all_reduce_wait")


def unavailable() -> str | None:
    """Why this process cannot use NCCL (None when it can)."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc}); pip install 'unified[gpu]'"
    with warnings.catch_warnings():  # CuPy warns when libnccl is missing; we say it below
        warnings.simplefilter("ignore")
        from cupy.cuda import nccl
    if not getattr(nccl, "available", False):
        return (f"CuPy {cupy.__version__} cannot load the NCCL library (pip install "
                "nvidia-nccl-cu12)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver or no device
        return f"CuPy {cupy.__version__} found no usable GPU: {exc}"
    return None if count > 0 else "no CUDA device is visible"


def choose(comm: Any, wanted: bool | None, reason: str | None) -> bool:
    """Step 2: whether every rank uses NCCL (collective over MPI communicator `comm`)."""
    if wanted is False:
        return False
    reasons = comm.allgather(reason)
    missing = {r: why for r, why in enumerate(reasons) if why is not None}
    if not missing:
        return True
    if wanted:
        shown = "; ".join(f"rank {r}: {why}" for r, why in missing.items())
        raise RuntimeError(f"init(nccl=True): NCCL cannot be used on {len(missing)} of "
                           f"{len(reasons)} ranks: {shown}")
    return False


class _Slot:
    def __init__(self) -> None:
        self.buffer: Any = None
        self.in_flight = False
        self.sequence = 0
        self.done: Any = None  # the event recorded after the all-reduce
        self.op = "sum"


def _ptr(array: Any) -> int:
    """The device address of a CuPy array (a NumPy array's address under the test fake)."""
    data = array.data
    return int(data.ptr) if hasattr(data, "ptr") else int(array.ctypes.data)


class NcclCommunicator:
    """The collectives of one process on NCCL (steps 3-4). `nccl`, `cuda` and `xp` are CuPy's
    cupy.cuda.nccl, cupy.cuda and cupy; tests pass fakes."""

    def __init__(self, comm: Any, local_rank: int, nccl: Any, cuda: Any, xp: Any) -> None:
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.nccl, self.cuda, self.xp = nccl, cuda, xp
        self.device = local_rank % max(1, int(cuda.runtime.getDeviceCount()))
        cuda.Device(self.device).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cuda.Stream(non_blocking=True)  # the all_reduce_start stream
        self.slots: dict[int, _Slot] = {}
        self.tokens: dict[int, tuple[int, int]] = {}  # token address -> (slot, sequence)
        self.sequence = 0
        self.dtypes = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.int32): nccl.NCCL_INT32, np.dtype(np.int64): nccl.NCCL_INT64}
        self.reduce = {"sum": nccl.NCCL_SUM, "mean": nccl.NCCL_SUM, "max": nccl.NCCL_MAX,
                       "min": nccl.NCCL_MIN}

    # ---- helpers ------------------------------------------------------------------------
    def _dtype(self, who: str, x: Any) -> int:
        kind = self.dtypes.get(np.dtype(x.dtype))
        if kind is None:
            raise TypeError(f"{who}: dtype {np.dtype(x.dtype)} is not supported on NCCL "
                            "(float32, int32, int64)")
        return kind

    def _current(self) -> int:
        return int(self.cuda.get_current_stream().ptr)

    def _contiguous(self, x: Any) -> Any:
        return self.xp.ascontiguousarray(x)

    def _mean(self, out: Any, op: str) -> Any:
        if op == "mean":
            out *= np.float32(1.0 / self.size)
        return out

    # ---- blocking collectives (queued on the current stream) -------------------------------
    def all_reduce(self, x: Any, op: str = "sum") -> Any:
        out = self.xp.array(x, copy=True, order="C")
        self.comm.allReduce(_ptr(out), _ptr(out), out.size, self._dtype("all_reduce", x),
                            self.reduce[op], self._current())
        return self._mean(out, op)

    def broadcast(self, x: Any, src: int = 0) -> Any:
        out = self.xp.array(x, copy=True, order="C")
        self.comm.bcast(_ptr(out), out.size, self._dtype("broadcast", x), int(src),
                        self._current())
        return out

    def all_gather(self, x: Any) -> Any:
        x = self._contiguous(x)
        out = self.xp.empty((x.shape[0] * self.size,) + tuple(x.shape[1:]), dtype=x.dtype)
        self.comm.allGather(_ptr(x), _ptr(out), x.size, self._dtype("all_gather", x),
                            self._current())
        return out

    def reduce_scatter(self, x: Any, op: str = "sum") -> Any:
        x = self._contiguous(x)
        out = self.xp.empty((x.shape[0] // self.size,) + tuple(x.shape[1:]), dtype=x.dtype)
        self.comm.reduceScatter(_ptr(x), _ptr(out), out.size,
                                self._dtype("reduce_scatter", x), self.reduce[op],
                                self._current())
        return self._mean(out, op)

    def barrier(self) -> Any:
        one = self.xp.zeros(1, dtype=np.float32)
        self.comm.allReduce(_ptr(one), _ptr(one), 1, self.nccl.NCCL_FLOAT32,
                            self.nccl.NCCL_SUM, self._current())
        self.cuda.get_current_stream().synchronize()
        return self.xp.zeros((), dtype=np.int64)

    # ---- the asynchronous pair (step 4) ----------------------------------------------------
    def all_reduce_start(self, x: Any, slot: int, op: str = "sum") -> Any:
        s = self.slots.setdefault(int(slot), _Slot())
        if s.in_flight:
            raise ValueError(f"all_reduce_start: slot {slot} already has an all-reduce in "
                             f"flight (#{s.sequence}); wait for it first")
        kind = self._dtype("all_reduce_start", x)
        if s.buffer is None or s.buffer.size != x.size or s.buffer.dtype != x.dtype:
            s.buffer = self.xp.empty(x.size, dtype=x.dtype)
        s.buffer[...] = x.reshape(-1)  # a copy on the current stream: x may change after
        ready = self.cuda.Event()
        ready.record(self.cuda.get_current_stream())
        self.stream.wait_event(ready)
        self.comm.allReduce(_ptr(s.buffer), _ptr(s.buffer), s.buffer.size, kind,
                            self.reduce[op], int(self.stream.ptr))
        s.done = self.cuda.Event()
        s.done.record(self.stream)
        self.sequence += 1
        s.in_flight, s.sequence, s.op = True, self.sequence, op
        token = self.xp.asarray(np.array([slot, self.sequence], dtype=np.int64))
        self.tokens[_ptr(token)] = (int(slot), self.sequence)
        return token

    def all_reduce_wait(self, token: Any, shape: tuple, dtype: str = "float32") -> Any:
        key = self.tokens.pop(_ptr(token), None)
        if key is None:  # a token copied elsewhere: read it (waits for the current stream)
            host = token.get() if hasattr(token, "get") else np.asarray(token)
            key = (int(host[0]), int(host[1]))
        slot, sequence = key
        s = self.slots.get(slot)
        if s is None or not s.in_flight or s.sequence != sequence:
            raise ValueError(f"all_reduce_wait: token (slot {slot}, #{sequence}) is not in "
                             "flight")
        numel, dtype = int(np.prod(shape, dtype=np.int64)), np.dtype(dtype)
        if numel != s.buffer.size or dtype != s.buffer.dtype:
            raise ValueError(f"all_reduce_wait: output ({numel} {dtype}) differs from the "
                             f"started tensor ({s.buffer.size} {s.buffer.dtype})")
        self.cuda.get_current_stream().wait_event(s.done)
        out = s.buffer.reshape(tuple(shape)).copy()
        s.in_flight = False
        return self._mean(out, s.op)


class _Route:
    """Step 1: the GPU implementation of one collective op while NCCL is installed."""

    def __init__(self, name: str, previous: Any) -> None:
        self.name, self.previous = name, previous

    def __call__(self, xp: Any, *arrays: Any, **attrs: Any) -> Any:
        comm = communicator(xp)
        if comm is None:
            if self.previous is None:
                raise RuntimeError(f"{self.name}: no GPU implementation without NCCL")
            return self.previous(xp, arrays, attrs)
        attrs.pop("world_size", None)  # the communicator knows it
        return getattr(comm, self.name)(*arrays, **attrs)


class _State:
    wanted: bool | None = None
    mpi: Any = None
    comm: Any = None  # the MPI communicator of the process group
    decided = False
    nccl: NcclCommunicator | None = None
    previous: dict[str, Any] = {}


_S = _State()


def install(mpi: Any, comm: Any, wanted: bool | None) -> None:
    """Step 1 (init() on MPI): route the collectives' GPU implementations through here."""
    import unified.ops.gpu  # noqa: F401  (attaches OpDef.gpu first)
    from unified.ops.gpu._table import GpuKernel
    from unified.ops.registry import lookup

    uninstall()
    _S.wanted, _S.mpi, _S.comm, _S.decided, _S.nccl = wanted, mpi, comm, False, None
    for name in OPS:
        op = lookup(name)
        _S.previous[name] = op.gpu
        op.gpu = GpuKernel(_Route(name, op.gpu), op.gpu.host_inputs if op.gpu else ())


def uninstall() -> None:
    """Undo install (destroy_process_group)."""
    from unified.ops.registry import lookup

    for name, previous in _S.previous.items():
        lookup(name).gpu = previous
    _S.previous = {}
    if _S.nccl is not None:
        _S.nccl.comm.destroy()
    _S.comm, _S.mpi, _S.decided, _S.nccl = None, None, False, None


def communicator(xp: Any) -> NcclCommunicator | None:
    """The NCCL communicator for arrays of namespace `xp`, made on first use (steps 2-3);
    None for host arrays, or when NCCL is off."""
    if _S.comm is None or getattr(xp, "__name__", "") != "cupy":
        return None
    if not _S.decided:
        _S.decided = True
        reason = unavailable() if _S.wanted is not False else "turned off"
        if choose(_S.comm, _S.wanted, reason):
            _S.nccl = _join(xp)
    return _S.nccl


def _join(xp: Any) -> NcclCommunicator:
    """Step 3 with CuPy's modules."""
    from cupy import cuda
    from cupy.cuda import nccl

    node = _S.comm.Split_type(_S.mpi.COMM_TYPE_SHARED)  # the ranks on this machine
    local_rank = node.Get_rank()
    node.Free()
    return NcclCommunicator(_S.comm, local_rank, nccl, cuda, xp)
