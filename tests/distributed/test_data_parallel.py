"""DataParallel on 2 MPI processes against one process on the global batch (the oracle:
workers/train_cnn.py --reference, plain eager, no DataParallel): parameters after training,
eager and traced, with SyncBatchNorm (vs BatchNorm on the whole batch), with buckets smaller
than the model (gradients), and with no_sync accumulation. One launch runs every case; then
one-process checks of buckets, the traced graph, slot reuse and the profile."""

import numpy as np
import pytest

import unified as U
import unified.distributed as dist
import unified.nn as nn
from unified import _core
from tests.distributed.launching import launch, requires_mpi, run_alone

CASES = ["eager", "traced", "sync_eager", "sync_traced", "buckets", "no_sync"]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def compare(case: str, ref, got) -> list[str]:
    """Every parameter (and gradient) of `got` within 1e-5 relative of the oracle `ref`."""
    keys = [k for k in ref.files if k.startswith(("p.", "g."))]
    problems = [] if keys else [f"{case}: nothing saved"]
    for k in keys:
        if k not in got.files:
            problems.append(f"{case}: {k} missing")
        elif "num_batches_tracked" in k:
            if ref[k] != got[k]:
                problems.append(f"{case}: {k} {got[k]} != {ref[k]}")
        elif relative_error(ref[k], got[k]) >= 1e-5:
            problems.append(f"{case}: {k} differs by {relative_error(ref[k], got[k]):.2e}")
    return problems


@requires_mpi
@pytest.mark.slow
def test_two_ranks_match_one_process_on_the_global_batch(tmp_path):
    # one launch runs every case (eager, traced, SyncBatchNorm, small buckets, no_sync)
    ref, out = tmp_path / "reference", tmp_path / "two_ranks"
    ref.mkdir()
    out.mkdir()
    run_alone("train_cnn.py", str(ref), *CASES, "--reference").check()
    launch("train_cnn.py", str(out), *CASES).check()
    problems = []
    for case in CASES:
        expected, got = np.load(ref / f"{case}.npz"), np.load(out / f"{case}.npz")
        problems += compare(case, expected, got)
    buckets = np.load(out / "buckets.npz")
    assert int(buckets["buckets"]) > 2  # the model spans several buckets
    assert any(k.startswith("g.") for k in buckets.files)  # gradients compared there
    assert not problems, "\n".join(problems)


# ---- one process (a local world): structure --------------------------------------------------
def mlp():
    U.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def test_buckets_follow_reverse_registration_order_and_the_cap(local_world):
    model = dist.DataParallel(mlp(), bucket_cap_mb=600 / 2**20)  # 600 bytes
    # 2.bias 16 B, 2.weight 512 B | 0.bias 128 B | 0.weight 2048 B (over the cap: alone)
    assert model.buckets == [["2.bias", "2.weight"], ["0.bias"], ["0.weight"]]
    assert dist.DataParallel(mlp()).buckets == [["2.bias", "2.weight", "0.bias", "0.weight"]]


def test_gradients_of_a_local_world_are_the_plain_gradients(local_world):
    x, y = U.randn(8, 16), U.randint(0, 4, (8,))
    plain = mlp()
    nn.functional.cross_entropy(plain(x), y).backward()
    model = dist.DataParallel(mlp(), bucket_cap_mb=1e-4)
    nn.functional.cross_entropy(model(x), y).backward()
    for (n, p), q in zip(plain.named_parameters(), model.module.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-6, err_msg=n)


def test_no_sync_accumulates_without_communication(local_world):
    model = dist.DataParallel(mlp())
    x, y = U.randn(4, 16), U.randint(0, 4, (4,))
    started = _core.comm_stats()["started"]
    with model.no_sync():
        nn.functional.cross_entropy(model(x), y).backward()
    assert _core.comm_stats()["started"] == started
    nn.functional.cross_entropy(model(x), y).backward()
    assert _core.comm_stats()["started"] == started + 1  # one bucket, once


def traced_step(model, opt):
    @U.trace
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def test_traced_step_records_collectives_and_replays_without_allocating(local_world):
    model = dist.DataParallel(mlp(), bucket_cap_mb=600 / 2**20)
    opt = U.optim.SGD(model.parameters(), lr=0.1)
    step = traced_step(model, opt)
    x, y = U.randn(8, 16), U.randint(0, 4, (8,))
    for _ in range(3):
        step(x, y)
    ops = [n.op.name for n in step.graph.calls()]
    assert ops.count("all_reduce_start") == 3 and ops.count("all_reduce_wait") == 3
    first_wait = ops.index("all_reduce_wait")
    assert ops.index("all_reduce_start") < first_wait < ops.index("sgd_plain_update")
    assert "all_reduce_start" in str(step.graph)
    before = _core.comm_stats()
    step(x, y)
    after = _core.comm_stats()
    assert after["started"] == before["started"] + 3
    assert after["slot_allocations"] == before["slot_allocations"]  # slots reused


def test_profile_times_each_all_reduce(local_world):
    model = dist.DataParallel(mlp(), bucket_cap_mb=600 / 2**20)
    step = traced_step(model, U.optim.SGD(model.parameters(), lr=0.1))
    x, y = U.randn(8, 16), U.randint(0, 4, (8,))
    with pytest.raises(RuntimeError, match="no compiled graph"):
        step.profile(x, y)
    for _ in range(3):
        step(x, y)
    timeline = step.profile(x, y)
    assert len(timeline.comm) == 3
    kernels = [s.kernel for s in timeline.steps]
    for c in timeline.comm:
        assert kernels[c.start] == "all_reduce_start" and kernels[c.wait] == "all_reduce_wait"
        assert 0 <= c.hidden_ns <= c.duration_ns
    assert 0.0 <= timeline.hidden_fraction <= 1.0
    assert "3 all-reduces" in timeline.table()
