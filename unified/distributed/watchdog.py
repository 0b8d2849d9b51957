"""Noticing a rank that left: a rank that ends cleanly (returns from main, sys.exit(0),
destroy_process_group) while the others still run collectives would leave them blocked in MPI
forever, since a collective needs every rank. faults.py handles ranks that raise; this handles
ranks that leave without an error.

 1. Every rank that leaves (at interpreter exit through atexit, or in destroy_process_group)
    sends a notice [rank, generation, how] to every other rank on a control communicator of
    its own (a duplicate of COMM_WORLD, so it never mixes with the collectives' messages).
 2. The blocking MPI calls the C++ collectives make (MPI_Allreduce, MPI_Wait, MPI_Bcast,
    MPI_Allgather, MPI_Reduce_scatter_block, MPI_Barrier) go through `wrap`: a ctypes
    trampoline that notes "blocked in <call> since <time>" and calls MPI with the GIL released
    (an eager kernel on a small tensor holds the GIL, so without it no Python thread could run
    while this rank waits).
 3. A daemon thread polls every POLL_S seconds for notices (a posted MPI_Irecv). Once a peer
    has left and this rank has been blocked in a collective for GRACE_S seconds since both
    happened, it reports "rank M failed: exited while rank N waited for it in <call> ..."
    through faults.fail (the launcher's note, MPI_Abort: every rank stops).
Limits: needs MPI_THREAD_MULTIPLE (mpi4py's default; without it the watchdog is off and a
warning says so). A rank that leaves by os._exit() sends no notice (a signal or a non-zero
status is mpiexec's and faults.py's business). GRACE_S lets a collective the leaving rank
had already contributed to complete; a genuine hang is reported about GRACE_S + POLL_S
seconds after the later of the two events. The trampolines add a few microseconds to each
blocking MPI call."""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import threading
import time
from typing import Any

import numpy as np

from unified.distributed import faults

log = logging.getLogger("unified.distributed")

GRACE_S = 5.0
POLL_S = 0.2
TAG = 7007
HOW = {0: "exited", 1: "called destroy_process_group()"}

_BLOCKED: list[tuple[str, float] | None] = [None]  # (MPI call, since) of the waiting thread
_TRAMPOLINES: list[Any] = []  # ctypes callbacks must outlive every call made through them


def wrap(name: str, address: int, handle: Any) -> int:
    """Step 2: the address of a trampoline for the blocking MPI function `name` at `address`;
    `handle` is the ctypes type of an MPI handle."""
    v, i = ctypes.c_void_p, ctypes.c_int
    argtypes = {
        "MPI_Allreduce": (v, v, i, handle, handle, handle),
        "MPI_Wait": (v, v),
        "MPI_Bcast": (v, i, handle, i, handle),
        "MPI_Allgather": (v, i, handle, v, i, handle, handle),
        "MPI_Reduce_scatter_block": (v, v, i, handle, handle, handle),
        "MPI_Barrier": (handle,),
    }[name]
    prototype = ctypes.CFUNCTYPE(ctypes.c_int, *argtypes)
    real = prototype(address)  # a CFUNCTYPE call releases the GIL

    def call(*args: Any) -> int:
        _BLOCKED[0] = (name, time.monotonic())
        try:
            return real(*args)  # a ctypes call: the GIL is released while MPI waits
        finally:
            _BLOCKED[0] = None

    trampoline = prototype(call)
    _TRAMPOLINES.append(trampoline)
    return ctypes.cast(trampoline, ctypes.c_void_p).value


class _State:
    """The running watchdog of this process (at most one)."""

    comm: Any = None  # the control communicator, made once per process
    rank = 0
    size = 1
    generation = 0  # init() count: notices of an earlier process group are ignored
    thread: threading.Thread | None = None
    stop = threading.Event()
    left: dict[int, tuple[str, float]] = {}  # peer rank -> (how, when noticed)
    announced = False
    atexit_set = False
    pid = 0  # a forked child (a DataLoader worker) inherits the state but must not announce


_S = _State()


def supported(mpi: Any) -> bool:
    return mpi.Query_thread() >= mpi.THREAD_MULTIPLE


def start(mpi: Any, rank: int, size: int) -> None:
    """Start watching (init() calls it on every rank of an MPI world of size > 1)."""
    if size < 2:
        return
    if not supported(mpi):
        log.warning("unified.distributed: MPI was initialized without MPI_THREAD_MULTIPLE; a "
                    "rank that exits early will leave the others waiting (no watchdog)")
        return
    if _S.comm is None:
        _S.comm = mpi.COMM_WORLD.Dup()  # collective: every rank is in init() here
    _S.rank, _S.size = rank, size
    _S.generation += 1
    _S.left, _S.announced, _S.pid = {}, False, os.getpid()
    _S.stop = threading.Event()
    _S.thread = threading.Thread(target=_watch, args=(mpi, _S.stop, _S.generation),
                                 name="unified-dist-watchdog", daemon=True)
    _S.thread.start()
    if not _S.atexit_set:
        _S.atexit_set = True
        atexit.register(leave, 0)  # runs before mpi4py finalizes MPI (registered later)


def leave(how: int = 1) -> None:
    """Step 1: stop watching and tell every other rank this one left (`how`: 0 exit, 1
    destroy_process_group). Does nothing when no watchdog runs."""
    thread = _S.thread
    if thread is None or _S.pid != os.getpid():
        return
    _S.stop.set()
    thread.join(timeout=2 * POLL_S + 1.0)
    _S.thread = None
    if _S.announced:
        return
    _S.announced = True
    notice = np.array([_S.rank, _S.generation, how], dtype=np.int64)
    requests = [_S.comm.Isend(notice, dest=peer, tag=TAG)
                for peer in range(_S.size) if peer != _S.rank]
    deadline = time.monotonic() + 2.0  # small messages go eagerly; never hang at exit
    while not _all_done(requests) and time.monotonic() < deadline:
        time.sleep(0.01)


def _all_done(requests: list) -> bool:
    return all(r.Test() for r in requests)  # a completed request tests True again


def peers_left() -> dict[int, str]:
    """The ranks known to have left this process group, and how."""
    return {r: how for r, (how, _) in _S.left.items()}


def _watch(mpi: Any, stop: threading.Event, generation: int) -> None:
    """Step 3 (the thread)."""
    buf = np.zeros(3, dtype=np.int64)
    request = _S.comm.Irecv(buf, source=mpi.ANY_SOURCE, tag=TAG)
    try:
        while not stop.wait(POLL_S):
            while request.Test():
                rank, gen, how = (int(v) for v in buf)
                if gen == generation:
                    _S.left.setdefault(rank, (HOW.get(how, "left"), time.monotonic()))
                request = _S.comm.Irecv(buf, source=mpi.ANY_SOURCE, tag=TAG)
            stuck = _stuck()
            if stuck is not None:
                faults.fail(_S.rank, stuck[1], culprit=stuck[0])
                return
    finally:
        request.Cancel()
        request.Wait()


def _stuck() -> tuple[int, str] | None:
    """(the rank that left, the report) when this rank waits in a collective for a rank that
    left, else None."""
    blocked = _BLOCKED[0]
    if blocked is None or not _S.left:
        return None
    call, since = blocked
    peer, (how, noticed) = min(_S.left.items(), key=lambda kv: kv[1][1])
    waited = time.monotonic() - since
    if time.monotonic() - max(since, noticed) < GRACE_S:
        return None
    return peer, (f"{how} while rank {_S.rank} waited for it in {call} for {waited:.1f} s: "
                  f"a collective needs every rank, so rank {peer} left too early (every rank "
                  f"must run the same collectives; did it return before the others finished?)")
