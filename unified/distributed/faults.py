"""Failing fast across ranks: without this, a rank that raises leaves the others blocked in
their next collective forever. `install(rank)` (called by init) chains sys.excepthook and
threading.excepthook so that an uncaught exception prints its traceback, then
"rank N failed: <error>", notes the failure for the launcher and calls
MPI_Abort(COMM_WORLD, 1), which makes mpiexec stop every rank. `fail()` is the same path for
the launcher's bootstrap (_bootstrap.py), which also catches `sys.exit(nonzero)` (an exit code
Python's excepthook never sees). A rank killed by a signal is handled by mpiexec itself; a
rank that ends cleanly while others wait for it, by watchdog.py.
Start-up consistency checks between ranks are in consistency.py."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

FAILURE_DIR: list[str | None] = [None]  # set by _bootstrap: where the launcher looks
_INSTALLED = [False]


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(rank: int, message: str, culprit: int | None = None) -> None:
    """Report `message` as rank `rank`'s failure and abort every rank (does not return when
    MPI is up). With `culprit`, rank `rank` noticed that rank `culprit` failed (watchdog.py):
    the report and the launcher's note name the culprit."""
    if culprit is not None:
        message, rank = f"{message} (noticed by rank {rank})", culprit
    line = f"rank {rank} failed: {message}"
    print(line, file=sys.stderr, flush=True)
    if FAILURE_DIR[0]:
        try:
            with open(os.path.join(FAILURE_DIR[0], f"rank{rank}.failed"), "w") as f:
                f.write(message + "\n")
        except OSError:
            pass
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        if mpi.COMM_WORLD.Get_size() > 1:
            sys.stdout.flush()
            mpi.COMM_WORLD.Abort(1)


def install(rank: int) -> None:
    """Chain the exception hooks (once per process)."""
    if _INSTALLED[0]:
        return
    _INSTALLED[0] = True
    previous = sys.excepthook
    previous_thread = threading.excepthook

    def excepthook(kind: type, exc: BaseException, tb: Any) -> None:
        previous(kind, exc, tb)
        fail(rank, describe(exc))

    def thread_excepthook(args: Any) -> None:
        previous_thread(args)
        if args.exc_type is not SystemExit:
            fail(rank, f"{describe(args.exc_value)} (in thread {args.thread.name})")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def print_exception(exc: BaseException) -> None:
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.flush()
