"""Session-wide build folders shared by the pytest-xdist workers: `once(shared, name, make)`
runs make(folder) in the first worker to get there, under a file lock; the others wait and
reuse the folder."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def once(shared_dir: Path, name: str, make: Callable[[Path], None]) -> Path:
    """`make(folder)` run once per session (across workers); returns the folder."""
    folder = shared_dir / name
    with _locked(shared_dir / f"{name}.lock"):
        if not (folder / ".done").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            (folder / ".done").write_text("ok")
    return folder
