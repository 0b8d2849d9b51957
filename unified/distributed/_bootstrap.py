"""What each rank runs under the launcher (launch.py): `python -m unified.distributed._bootstrap
FAILURE_DIR script.py args...` runs the script as __main__ (as `python script.py` would) and
turns an exception or a non-zero sys.exit into faults.fail: "rank N failed: ..." on stderr,
a note in FAILURE_DIR for the launcher, and MPI_Abort so that every rank stops."""

from __future__ import annotations

import os
import runpy
import sys


def _rank() -> int:
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized():
        return mpi.COMM_WORLD.Get_rank()
    for key in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def _abort_all(message: str) -> None:
    from unified.distributed import faults

    if "mpi4py.MPI" not in sys.modules:  # failed before init(): still stop the other ranks
        try:
            from mpi4py import MPI  # noqa: F401
        except ImportError:
            pass
    faults.fail(_rank(), message)


def main(argv: list[str]) -> int:
    from unified.distributed import faults

    failure_dir, script, args = argv[0], argv[1], argv[2:]
    faults.FAILURE_DIR[0] = failure_dir
    sys.argv = [script] + args
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            _abort_all(f"exited with status {exc.code}")
        raise
    except BaseException as exc:
        faults.print_exception(exc)
        _abort_all(faults.describe(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
