"""The collective ops through unified.distributed: on 2 MPI processes against NumPy (sum,
mean, max, min, int64, strided input, broadcast, all_gather, reduce_scatter, the asynchronous
start/wait pair waited out of order, all_reduce's gradient, a slot started twice), and in one
process on a local world (identities, errors)."""

import numpy as np
import pytest

import unified as U
import unified.distributed as dist
from tests.distributed.launching import launch, requires_mpi


@requires_mpi
def test_collectives_on_two_ranks_match_numpy(tmp_path):
    launch("collectives.py", str(tmp_path)).check()
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    x = [np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) for r in range(2)]
    expected = {
        "sum": x[0] + x[1], "mean": (x[0] + x[1]) / 2, "max": np.maximum(x[0], x[1]),
        "min": np.minimum(x[0], x[1]), "int_sum": np.array([1, 10]),
        "strided": (x[0] + x[1]).T, "broadcast": x[1], "gather": np.array([[0, 1], [1, 2]]),
        "async1": 2 * (x[0] + x[1]), "async0": (x[0] + x[1]) / 2,
    }
    c = np.array([1.0, 10.0, 100.0])
    for r, got in enumerate(ranks):
        # the global loss sum_r' c . all_reduce(w_r' (r' + 1)): d/dw_r = (r + 1) * (c + c)
        np.testing.assert_allclose(got["grad"], (r + 1) * 2 * c, err_msg=f"grad rank {r}")
        for key, want in expected.items():
            np.testing.assert_allclose(got[key], want, rtol=1e-6, err_msg=f"{key} rank {r}")
        np.testing.assert_allclose(got["scatter"], (np.arange(4) * 3)[2 * r:2 * r + 2])
        assert got["int_sum"].dtype == np.int64
        assert got["twice"].tolist() == [1]
        assert got["stats"].tolist() == [1]  # the first start of the twice test is in flight
        message = (tmp_path / f"error{r}.txt").read_text()
        assert "slot 0 already has an all-reduce in flight" in message


def test_a_local_world_is_one_rank_and_collectives_are_identities(local_world):
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    x = U.tensor([[1.0, -2.0], [3.0, 4.0]])
    for op in ("sum", "mean", "max", "min"):
        assert dist.all_reduce(x, op).tolist() == x.tolist()
    assert dist.broadcast(x).tolist() == x.tolist()
    assert dist.all_gather(x).tolist() == x.tolist()
    assert dist.reduce_scatter(x).tolist() == x.tolist()
    dist.barrier()
    token = dist.all_reduce_start(x, slot=5)
    assert token.tolist()[0] == 5
    assert dist.all_reduce_wait(token, (2, 2)).tolist() == x.tolist()


def test_wait_twice_and_bad_arguments_name_the_problem(local_world):
    token = dist.all_reduce_start(U.ones(3), slot=7)
    dist.all_reduce_wait(token, (3,))
    with pytest.raises(ValueError, match=r"token \(slot 7, #\d+\) is not in flight"):
        dist.all_reduce_wait(token, (3,))
    token = dist.all_reduce_start(U.ones(3), slot=7)
    with pytest.raises(ValueError, match=r"output \(4 float32\) differs from the started tensor"
                                         r" \(3 float32\)"):
        dist.all_reduce_wait(token, (4,))
    dist.all_reduce_wait(token, (3,))
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(U.ones(2), op="prod")
    with pytest.raises(U.DTypeError, match="'mean' needs float32"):
        dist.all_reduce(U.tensor([1, 2]), op="mean")
    with pytest.raises(U.ShapeError, match="split into 1 equal blocks|0-d"):
        dist.all_gather(U.tensor(1.0))


def test_collectives_without_init_say_how_to_start(local_world):
    dist.destroy_process_group()
    try:
        with pytest.raises(ValueError, match=r"no communicator is set; call "
                                             r"unified.distributed.init\(\) first"):
            dist.all_reduce(U.ones(2))
        with pytest.raises(RuntimeError, match="call unified.distributed.init"):
            dist.DataParallel(U.nn.Linear(2, 2))
    finally:
        dist.init(backend="local")


def test_init_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        if dist.is_initialized():
            dist.destroy_process_group()
        try:
            dist.init(backend="nccl")
        finally:
            dist.init(backend="local")
