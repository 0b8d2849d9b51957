"""Shared fixtures for the edge runtime tests: the reference bundles and the runtime builds.

Builds are slow on small machines (about a minute each on 2 cores), so each is made once per
test session in a folder shared by the pytest-xdist workers, under a file lock: the first worker
builds, the others wait and reuse it (build_runtime is incremental, a second call is a no-op)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..export.models import MODELS
from .build_cache import once

MODEL_NAMES = tuple(MODELS)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A folder every xdist worker of this session sees (the parent of each worker's basetemp
    when running under xdist)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "mobile_shared"


@pytest.fixture(scope="session")
def bundles(shared_dir) -> dict[str, Path]:
    """The four reference models of tests/export/models.py saved at batch 1."""
    from unified.export.bundle import save_bundle

    def make(folder: Path) -> None:
        for name, build in MODELS.items():
            model, example = build(batch=1)
            save_bundle(model, example, folder / f"{name}.ufb")

    folder = once(shared_dir, "bundles", make)
    return {name: folder / f"{name}.ufb" for name in MODEL_NAMES}


@pytest.fixture(scope="session")
def host_runtime(shared_dir, bundles):
    """`unified build-runtime digits_cnn.ufb` (trimmed, plus the full runtime from the same
    objects) for this machine, built through the CLI: -O3 and -march=native like unified._core,
    so outputs are compared with eager on equal terms."""
    from unified.cli import main

    def make(folder: Path) -> None:
        code = main(["build-runtime", str(bundles["digits_cnn"]), "-o", str(folder),
                     "--opt", "speed", "--native"])
        assert code == 0

    folder = once(shared_dir, "host_runtime", make)
    return folder
