"""Parameters without a gradient under DataParallel, against one process (the oracle, computed
by each rank on every rank's batch in workers/unused.py): a parameter no rank uses keeps
.grad None (eager and traced, and the optimizer leaves it alone); one that only rank 0 uses
gets rank 0's gradient averaged with zeros on both ranks, as in one process; traced, ranks
that use different parameters record different graphs, reported at the first step."""

import numpy as np
import pytest

import unified as U
import unified.distributed as dist
import unified.nn as nn
from tests.distributed.launching import launch, requires_mpi


def check_rank(got, case: str, rank: int) -> None:
    assert got["none"].tolist() == got["ref_none"].tolist(), f"{case} rank {rank}"
    for key in got.files:
        if key.startswith("ref_") and key != "ref_none":
            np.testing.assert_allclose(got[key[4:]], got[key], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{case} rank {rank} {key[4:]}")


@requires_mpi
def test_unused_parameters_match_one_process_on_two_ranks(tmp_path):
    launch("unused.py", str(tmp_path), "eager").check()
    launch("unused.py", str(tmp_path), "traced").check()
    for rank in range(2):
        eager = np.load(tmp_path / f"eager.rank{rank}.npz")
        assert eager["none"].tolist() == ["never.bias", "never.weight"]
        assert np.abs(eager["grad.sometimes.weight"]).max() > 0  # rank 0's, on both ranks
        check_rank(eager, "eager", rank)
        traced = np.load(tmp_path / f"traced.rank{rank}.npz")
        assert traced["none"].tolist() == ["never.bias", "never.weight", "sometimes.bias",
                                           "sometimes.weight"]
        assert any(k.startswith("param.") for k in traced.files)
        check_rank(traced, "traced", rank)


@requires_mpi
def test_traced_ranks_using_different_parameters_are_reported(tmp_path):
    run = launch("unused.py", str(tmp_path), "traced_mixed", timeout=60)
    assert run.returncode != 0
    assert "DataParallel: the traced graphs differ between ranks at item" in run.stderr


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.unused = nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


@pytest.mark.parametrize("traced", [False, True])
def test_an_unused_parameter_keeps_no_gradient_in_a_local_world(local_world, traced):
    U.manual_seed(0)
    model = dist.DataParallel(TwoHeads(), bucket_cap_mb=1e-5)  # a bucket per parameter
    before = model.module.unused.weight.detach().numpy().copy()
    opt = U.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    run = U.trace(step) if traced else step
    x = U.randn(5, 3)
    for _ in range(3):
        run(x)
    assert model.module.unused.weight.grad is None and model.module.unused.bias.grad is None
    np.testing.assert_array_equal(model.module.unused.weight.detach().numpy(), before)
    np.testing.assert_allclose(model.module.used.bias.grad.numpy(), [5.0, 5.0])
