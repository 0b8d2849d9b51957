"""Fixtures shared by tests/distributed: `local_world`, a process group of one process (no
MPI) for the in-process tests; the MPI tests launch worker scripts (launching.py)."""

import pytest

import unified.distributed as dist


@pytest.fixture
def local_world():
    if not dist.is_initialized():
        dist.init(backend="local")
    yield
