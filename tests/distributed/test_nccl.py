"""The NCCL backend (unified/distributed/nccl.py). Without GPUs: the choice between NCCL and the
host route, the unique-id exchange, every collective's values and the stream order of the
asynchronous pair, on 2 ranks made of threads with a fake NCCL and fake CUDA streams
(fake_nccl.py); the routing of the collective ops' GPU implementations. With CuPy, NCCL and
2 GPUs (marked gpu): the collectives and DataParallel on cuda tensors on 2 MPI ranks."""

import importlib.util

import numpy as np
import pytest

from tests.distributed.fake_nccl import FakeCuda, FakeMpiComm, FakeNccl, run_ranks
from tests.distributed.launching import launch, mpi_missing
from unified.distributed import nccl


class Comm:
    def __init__(self, reasons):
        self.reasons = reasons
        self.calls = 0

    def allgather(self, value):
        self.calls += 1
        return self.reasons


def test_nccl_is_used_on_every_rank_or_on_none():
    assert nccl.choose(Comm([None, None]), None, None)
    assert not nccl.choose(Comm([None, "no GPU"]), None, None)
    with pytest.raises(RuntimeError, match=r"init\(nccl=True\): NCCL cannot be used on 1 of 2 "
                                           r"ranks: rank 1: no GPU"):
        nccl.choose(Comm([None, "no GPU"]), True, None)
    off = Comm([None, None])
    assert not nccl.choose(off, False, None) and off.calls == 0  # off: no communication


def test_this_machine_says_why_it_cannot_use_nccl():
    reason = nccl.unavailable()
    if reason is None:
        pytest.skip("CuPy with NCCL and a GPU are present here")
    assert any(word in reason for word in ("CuPy is not installed", "NCCL library",
                                           "GPU", "CUDA device")), reason


def communicators(rank, world, log):
    return nccl.NcclCommunicator(FakeMpiComm(world, rank), local_rank=rank + 2,
                                 nccl=FakeNccl(world, log), cuda=FakeCuda(log), xp=np)


def test_ranks_join_with_rank_0s_unique_id_on_their_own_gpu():
    logs = [[], []]
    comms = run_ranks(2, lambda r, w: communicators(r, w, logs[r]))
    assert [c.device for c in comms] == [0, 1]  # local ranks 2, 3 on a node with 2 GPUs
    for r, log in enumerate(logs):
        assert log[:2] == [("device", r), ("join", (2, b"unique-id-1", r))]
    assert comms[0].stream.ptr != FakeCuda.CURRENT


def test_collectives_on_two_fake_ranks_match_numpy():
    x = [np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) for r in range(2)]

    def body(rank, world):
        c = communicators(rank, world, [])
        xr = x[rank]
        return {
            "sum": c.all_reduce(xr), "mean": c.all_reduce(xr, "mean"),
            "max": c.all_reduce(xr, "max"), "strided": c.all_reduce(xr.T),
            "int_sum": c.all_reduce(np.array([rank, 10 * rank], dtype=np.int64)),
            "broadcast": c.broadcast(xr, src=1),
            "gather": c.all_gather(np.array([[rank, rank + 1]], dtype=np.int32)),
            "scatter": c.reduce_scatter(np.arange(4, dtype=np.float32) * (rank + 1), "mean"),
            "barrier": c.barrier(), "input": xr,
        }

    results = run_ranks(2, body)
    for r, got in enumerate(results):
        np.testing.assert_array_equal(got["sum"], x[0] + x[1])
        np.testing.assert_allclose(got["mean"], (x[0] + x[1]) / 2)
        np.testing.assert_array_equal(got["max"], np.maximum(x[0], x[1]))
        np.testing.assert_array_equal(got["strided"], (x[0] + x[1]).T)
        np.testing.assert_array_equal(got["int_sum"], [1, 10])
        np.testing.assert_array_equal(got["broadcast"], x[1])
        np.testing.assert_array_equal(got["gather"], [[0, 1], [1, 2]])
        np.testing.assert_allclose(got["scatter"], (np.arange(4) * 3 / 2)[2 * r:2 * r + 2])
        assert got["barrier"].shape == () and got["barrier"].dtype == np.int64
        np.testing.assert_array_equal(got["input"], x[r])  # results are new arrays


def test_async_all_reduce_is_stream_ordered_and_checks_its_tokens():
    logs = [[], []]

    def body(rank, world):
        c = communicators(rank, world, logs[rank])
        del logs[rank][:]
        g = np.full(3, rank + 1.0, dtype=np.float32)
        t0 = c.all_reduce_start(g, slot=0, op="mean")
        g[:] = 100.0  # the slot holds a copy: later writes do not change what is reduced
        t1 = c.all_reduce_start(g[:2] * 2, slot=1)
        with pytest.raises(ValueError, match="slot 0 already has an all-reduce in flight"):
            c.all_reduce_start(g, slot=0)
        with pytest.raises(ValueError, match=r"output \(4 float32\) differs from the started "
                                             r"tensor \(2 float32\)"):
            c.all_reduce_wait(t1, (4,))
        out1 = c.all_reduce_wait(t1, (2,))  # out of start order
        out0 = c.all_reduce_wait(t0.copy(), (3,))  # a copied token is read instead
        with pytest.raises(ValueError, match=r"token \(slot 0, #1\) is not in flight"):
            c.all_reduce_wait(t0, (3,))
        return out0, out1, c.stream.ptr

    results = run_ranks(2, body)
    for r, (out0, out1, comm_stream) in enumerate(results):
        np.testing.assert_allclose(out0, [1.5, 1.5, 1.5])
        np.testing.assert_allclose(out1, [400.0, 400.0])
        log = logs[r]
        current = FakeCuda.CURRENT
        # start: an event on the current stream, the comm stream waits for it, then the
        # all-reduce and its event on the comm stream; wait: the current stream waits for it
        ready, done = log[0][1][0], log[3][1][0]
        assert log[:4] == [("record", (ready, current)), ("wait", (comm_stream, ready)),
                           ("allReduce", comm_stream), ("record", (done, comm_stream))]
        assert ("wait", (current, done)) in log[4:]
        assert not any(what == "synchronize" for what, _ in log)  # no host synchronization


def test_collective_ops_route_to_nccl_only_for_device_arrays(monkeypatch):
    from unified.ops.registry import lookup

    nccl.install(mpi=None, comm=object(), wanted=None)
    try:
        kernel = lookup("all_reduce").gpu
        assert isinstance(kernel.fn, nccl._Route)
        calls = []

        class Fake:
            def all_reduce(self, x, op):
                calls.append(op)
                return x * 2

        # no communicator (NCCL off, or NumPy arrays): the previous, host implementation
        assert kernel.fn.previous is not None
        monkeypatch.setattr(kernel.fn, "previous", lambda xp, arrays, attrs: ("host", attrs))
        monkeypatch.setattr(nccl, "communicator", lambda xp: None)
        assert kernel(np, (np.ones(2, np.float32),), {"op": "max"}) == ("host", {"op": "max"})
        monkeypatch.setattr(nccl, "communicator", lambda xp: Fake())
        np.testing.assert_array_equal(kernel(np, (np.ones(2, np.float32),), {"op": "max"}),
                                      [2.0, 2.0])
        assert calls == ["max"]
        assert nccl.communicator(np) is not None  # the monkeypatch; the real one:
        monkeypatch.undo()
        assert nccl.communicator(np) is None  # host arrays never use NCCL
    finally:
        nccl.uninstall()
    assert not isinstance(lookup("all_reduce").gpu.fn, nccl._Route)


def two_gpus_missing():
    if importlib.util.find_spec("cupy") is None or nccl.unavailable() is not None:
        return "needs CuPy with NCCL and 2 GPUs"
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        return "needs CuPy with NCCL and 2 GPUs"
    return mpi_missing()


@pytest.mark.gpu
@pytest.mark.skipif(two_gpus_missing() is not None, reason=str(two_gpus_missing()))
def test_collectives_and_data_parallel_on_two_gpus(tmp_path):
    launch("nccl_gpu.py", str(tmp_path)).check()
    for r in range(2):
        got = np.load(tmp_path / f"rank{r}.npz")
        x = [np.arange(6, dtype=np.float32).reshape(2, 3) * (k + 1) for k in range(2)]
        np.testing.assert_allclose(got["sum"], x[0] + x[1])
        np.testing.assert_allclose(got["gather"], np.concatenate(x))
        np.testing.assert_allclose(got["broadcast"], x[1])
        assert got["used_nccl"].tolist() == [1]
        for key in got.files:
            if key.startswith("gpu."):
                np.testing.assert_allclose(got[key], got["cpu." + key[4:]], rtol=1e-4,
                                           atol=1e-6, err_msg=key)
