"""The launcher's pieces: finding mpiexec, the environment it gives the ranks, its argument
checks, and a script it cannot find."""

import os

import pytest

from tests.distributed.launching import requires_mpi
from unified.distributed import launch


@requires_mpi
def test_finds_an_executable_mpiexec():
    path = launch.find_mpiexec()
    assert os.path.basename(path).startswith("mpiexec") and os.access(path, os.X_OK)


def test_rank_environment_imports_this_checkout_and_splits_the_cores(monkeypatch):
    for var in ("OMP_NUM_THREADS", "UNIFIED_NUM_THREADS", "MPIR_CVAR_ASYNC_PROGRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = launch.worker_env(2, "auto")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == launch.ROOT
    assert env["OMP_NUM_THREADS"] == "4"
    assert env["MPIR_CVAR_ASYNC_PROGRESS"] == "0"  # 2 x 4 threads leave no spare core
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert launch.worker_env(2, "auto")["MPIR_CVAR_ASYNC_PROGRESS"] == "1"
    assert launch.worker_env(2, "off")["MPIR_CVAR_ASYNC_PROGRESS"] == "0"
    monkeypatch.setenv("MPIR_CVAR_ASYNC_PROGRESS", "1")
    assert launch.worker_env(8, "auto")["MPIR_CVAR_ASYNC_PROGRESS"] == "1"  # the user's choice


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit):
        launch.parse(["-n", "0", "x.py"])
    assert "-n must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no script 'missing.py'"):
        launch.main(["-n", "2", "missing.py"])
