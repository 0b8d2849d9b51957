"""`python -m unified.distributed.launch -n N script.py args...`: run N copies of a training
script as one MPI job, through the `mpiexec` of the mpich wheel (`pip install 'unified[dist]'`)
or the first `mpiexec` on PATH. Each rank runs the script through _bootstrap.py, which stops
every rank when one fails; the launcher then exits non-zero naming the failed rank. For many
machines run the script under your own `mpirun`/`srun` instead (init() reads rank and size
from MPI; add `-m unified.distributed._bootstrap DIR` yourself for the same fault report).

Environment given to the ranks: PYTHONPATH starts with this checkout's root (so the ranks
import the same unified); OMP_NUM_THREADS = cores // N when neither it nor UNIFIED_NUM_THREADS
is set; MPIR_CVAR_ASYNC_PROGRESS=1 with --async-progress on (MPICH then progresses
non-blocking all-reduces on a thread of its own, so communication overlaps backward even
between MPI calls). That thread polls without sleeping: with no spare core per rank it takes
compute time from the kernels (a 2-core machine running 2 ranks trains about 2x slower), so
the default `auto` turns it on only when the ranks' kernel threads leave a core free per rank.
Without it each all_reduce_start still tests the all-reduces in flight (core_cpp/src/comm.cpp).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_mpiexec() -> str:
    """The mpich wheel's mpiexec (installed into <prefix>/bin), else mpiexec on PATH."""
    try:
        from importlib import metadata

        for f in metadata.distribution("mpich").files or ():
            if f.name == "mpiexec":
                path = str(f.locate())
                if os.access(path, os.X_OK):
                    return path
    except metadata.PackageNotFoundError:
        pass
    for candidate in (os.path.join(sys.prefix, "bin", "mpiexec"), shutil.which("mpiexec")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("unified.distributed.launch: no mpiexec found; pip install "
                     "'unified[dist]' (mpi4py and the mpich wheel)")


def worker_env(nprocs: int, async_progress: str = "auto") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    cores = os.cpu_count() or 1
    if "OMP_NUM_THREADS" not in env and "UNIFIED_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, cores // nprocs))
    threads = int(env.get("UNIFIED_NUM_THREADS") or env.get("OMP_NUM_THREADS") or 1)
    if async_progress == "auto":
        if "MPIR_CVAR_ASYNC_PROGRESS" in env:  # the user's own setting
            return env
        async_progress = "on" if cores >= nprocs * (threads + 1) else "off"
    env["MPIR_CVAR_ASYNC_PROGRESS"] = "1" if async_progress == "on" else "0"
    return env


def failed_ranks(failure_dir: str) -> list[tuple[int, str]]:
    found = []
    for name in os.listdir(failure_dir):
        if name.startswith("rank") and name.endswith(".failed"):
            with open(os.path.join(failure_dir, name)) as f:
                found.append((int(name[4:-7]), f.read().strip()))
    return sorted(found)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m unified.distributed.launch",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--nprocs", type=int, default=2, help="number of processes")
    parser.add_argument("--timeout", type=float, default=None,
                        help="stop the job after this many seconds (exit status 124)")
    parser.add_argument("--async-progress", choices=("auto", "on", "off"), default="auto",
                        help="MPICH's progress thread (MPIR_CVAR_ASYNC_PROGRESS); auto: on when "
                             "every rank has a spare core")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.nprocs < 1:
        parser.error(f"-n must be >= 1, got {args.nprocs}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if not os.path.isfile(args.script):
        raise SystemExit(f"unified.distributed.launch: no script {args.script!r}")
    with tempfile.TemporaryDirectory(prefix="unified-launch-") as failure_dir:
        cmd = [find_mpiexec(), "-n", str(args.nprocs), sys.executable, "-m",
               "unified.distributed._bootstrap", failure_dir, args.script, *args.args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=worker_env(args.nprocs, args.async_progress))
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            print(f"unified.distributed.launch: timed out after {args.timeout:g} s; stopped "
                  "every rank", file=sys.stderr)
            return 124
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            return 130
        failures = failed_ranks(failure_dir)
    elapsed = time.monotonic() - start
    for rank, message in failures:
        print(f"unified.distributed.launch: rank {rank} failed: {message} (after {elapsed:.1f} "
              "s; every rank was stopped)", file=sys.stderr)
    if failures:
        return code if code not in (0, None) else 1
    if code != 0:
        print(f"unified.distributed.launch: mpiexec exited with status {code} (a rank died or "
              "MPI aborted)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
