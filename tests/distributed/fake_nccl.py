"""A fake of what unified/distributed/nccl.py uses from CuPy and MPI, for tests without GPUs:
ranks are threads of this process; `FakeNccl` reduces host (NumPy) buffers given by address
as NCCL would reduce device buffers, at once; `FakeCuda` streams and events do nothing but
log what was queued where, so a test can check the stream order; `FakeMpiComm` does bcast and
allgather between the threads. `run_ranks(n, fn)` runs fn(rank, world) on n threads."""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable

import numpy as np

DTYPES = {7: np.float32, 2: np.int32, 4: np.int64}  # NCCL's enum values
REDUCE = {0: np.sum, 2: np.max, 3: np.min}


class World:
    def __init__(self, n: int) -> None:
        self.n = n
        self.barrier = threading.Barrier(n, timeout=10)
        self.box: list[Any] = [None] * n
        self.unique_ids = 0

    def exchange(self, rank: int, value: Any) -> list[Any]:
        self.box[rank] = value
        self.barrier.wait()
        values = list(self.box)
        self.barrier.wait()
        return values


def view(address: int, count: int, dtype: Any) -> np.ndarray:
    nbytes = count * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_char * nbytes).from_address(address), dtype=dtype)


class FakeNcclComm:
    def __init__(self, nccl: "FakeNccl", size: int, uid: bytes, rank: int) -> None:
        self.nccl, self.size, self.uid, self.rank = nccl, size, uid, rank

    def _log(self, what: str, stream: int) -> None:
        self.nccl.log.append((what, stream))

    def allReduce(self, send, recv, count, dtype, op, stream):  # noqa: N802 (CuPy's names)
        parts = self.nccl.world.exchange(self.rank, view(send, count, DTYPES[dtype]).copy())
        view(recv, count, DTYPES[dtype])[:] = REDUCE[op](np.stack(parts), axis=0)
        self._log("allReduce", stream)

    def bcast(self, buf, count, dtype, root, stream):
        parts = self.nccl.world.exchange(self.rank, view(buf, count, DTYPES[dtype]).copy())
        view(buf, count, DTYPES[dtype])[:] = parts[root]
        self._log("bcast", stream)

    def allGather(self, send, recv, count, dtype, stream):  # noqa: N802
        parts = self.nccl.world.exchange(self.rank, view(send, count, DTYPES[dtype]).copy())
        view(recv, count * self.size, DTYPES[dtype])[:] = np.concatenate(parts)
        self._log("allGather", stream)

    def reduceScatter(self, send, recv, recvcount, dtype, op, stream):  # noqa: N802
        total = recvcount * self.size
        parts = self.nccl.world.exchange(self.rank, view(send, total, DTYPES[dtype]).copy())
        reduced = REDUCE[op](np.stack(parts), axis=0)
        view(recv, recvcount, DTYPES[dtype])[:] = reduced[self.rank * recvcount:
                                                         (self.rank + 1) * recvcount]
        self._log("reduceScatter", stream)


class FakeNccl:
    NCCL_FLOAT32, NCCL_INT32, NCCL_INT64 = 7, 2, 4
    NCCL_SUM, NCCL_MAX, NCCL_MIN = 0, 2, 3

    def __init__(self, world: World, log: list) -> None:
        self.world, self.log = world, log

    def get_unique_id(self) -> bytes:
        self.world.unique_ids += 1
        return b"unique-id-%d" % self.world.unique_ids

    def NcclCommunicator(self, size, uid, rank):  # noqa: N802
        self.log.append(("join", (size, uid, rank)))
        return FakeNcclComm(self, size, uid, rank)


class FakeStream:
    def __init__(self, log: list, ptr: int) -> None:
        self.log, self.ptr = log, ptr

    def wait_event(self, event: "FakeEvent") -> None:
        self.log.append(("wait", (self.ptr, event.name)))

    def synchronize(self) -> None:
        self.log.append(("synchronize", self.ptr))


class FakeEvent:
    count = 0

    def __init__(self, log: list) -> None:
        FakeEvent.count += 1
        self.log, self.name = log, f"event{FakeEvent.count}"

    def record(self, stream: FakeStream) -> None:
        self.log.append(("record", (self.name, stream.ptr)))


class FakeCuda:
    CURRENT = 1  # the current stream's ptr; streams made later get 2, 3, ...

    def __init__(self, log: list, devices: int = 2) -> None:
        self.log = log
        self.current = FakeStream(log, self.CURRENT)
        self.streams = 1
        cuda = self

        class runtime:  # noqa: N801
            @staticmethod
            def getDeviceCount() -> int:  # noqa: N802
                return devices

        class Device:
            def __init__(self, index: int) -> None:
                self.index = index

            def use(self) -> None:
                cuda.log.append(("device", self.index))

        self.runtime, self.Device = runtime, Device

    def Stream(self, non_blocking: bool = False) -> FakeStream:  # noqa: N802
        self.streams += 1
        return FakeStream(self.log, self.streams)

    def Event(self) -> FakeEvent:  # noqa: N802
        return FakeEvent(self.log)

    def get_current_stream(self) -> FakeStream:
        return self.current


class FakeMpiComm:
    def __init__(self, world: World, rank: int) -> None:
        self.world, self.rank = world, rank

    def Get_rank(self) -> int:  # noqa: N802
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.world.n

    def bcast(self, value: Any, root: int = 0) -> Any:
        return self.world.exchange(self.rank, value)[root]

    def allgather(self, value: Any) -> list:
        return self.world.exchange(self.rank, value)


def run_ranks(n: int, fn: Callable[[int, World], Any]) -> list[Any]:
    """fn(rank, world) on n threads; their results in rank order (an exception re-raised)."""
    world = World(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(rank: int) -> None:
        try:
            results[rank] = fn(rank, world)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(exc)
            world.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if errors:
        raise errors[0]
    return results
