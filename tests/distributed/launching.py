"""Shared by tests/distributed: run a worker script (tests/distributed/workers/) on N MPI
processes through `python -m unified.distributed.launch`, with a timeout, and skip cleanly
when the optional MPI dependencies (mpi4py, the mpich wheel) are not installed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers")


def mpi_missing() -> str | None:
    """Why MPI tests cannot run here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "needs mpi4py and the mpich wheel: pip install 'unified[dist]'"
    from unified.distributed.launch import find_mpiexec

    try:
        find_mpiexec()
    except SystemExit as exc:
        return str(exc)
    return None


requires_mpi = pytest.mark.skipif(mpi_missing() is not None, reason=str(mpi_missing()))


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float) -> None:
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.seconds = seconds

    def check(self) -> "Run":
        assert self.returncode == 0, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        return self


def launch(worker: str, *args: str, n: int = 2, timeout: float = 120,
           launcher_args: tuple[str, ...] = ()) -> Run:
    """Run workers/<worker> on n ranks; returns its exit status, output and wall time."""
    cmd = [sys.executable, "-m", "unified.distributed.launch", "-n", str(n), *launcher_args,
           os.path.join(WORKERS, worker), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return Run(proc, time.monotonic() - start)


def run_alone(worker: str, *args: str, timeout: float = 120) -> Run:
    """The worker as one plain process (no MPI launcher)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(WORKERS, worker), *args],
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc, time.monotonic() - start)
