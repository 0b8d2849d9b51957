"""Tests for unified/memory.py: always-on counting of the bytes held by tensor data (a NumPy
allocation handler installed by _core) and by traced executors' arenas."""

import gc

import numpy as np
import pytest

import unified as U
from unified import memory


@pytest.fixture
def fresh():
    gc.collect()
    U.reset_peak_memory_stats()
    yield


def test_allocating_raises_current_and_peak_and_freeing_lowers_current(fresh):
    start = U.memory_stats()["current_bytes"]
    x = U.ones(1000)
    y = x * 2.0
    stats = U.memory_stats()
    assert stats["current_bytes"] - start >= 8000  # x and y: 4,000 bytes each
    assert stats["peak_bytes"] >= stats["current_bytes"]
    del x, y
    gc.collect()
    assert U.memory_stats()["current_bytes"] - start < 100
    assert U.memory_stats()["peak_bytes"] - start >= 8000


def test_reset_peak_sets_peak_to_current(fresh):
    big = U.zeros(10_000) + 1.0
    del big
    gc.collect()
    assert U.memory_stats()["peak_bytes"] - U.memory_stats()["current_bytes"] >= 40_000
    U.reset_peak_memory_stats()
    stats = U.memory_stats()
    assert stats["peak_bytes"] == stats["current_bytes"]
    assert stats["allocated_bytes.all.peak"] == stats["peak_bytes"]
    assert U.memory_allocated() == stats["current_bytes"]
    assert U.max_memory_allocated() == stats["peak_bytes"]


def test_views_allocate_nothing(fresh):
    x = U.zeros(100, 10) + 1.0
    before = U.memory_stats()["current_bytes"]
    v = x.reshape(1000)
    w = v[:10]
    assert U.memory_stats()["current_bytes"] == before
    del v, w


def test_backward_allocations_are_counted(fresh):
    w = U.ones(500, requires_grad=True)
    (w * w).sum().backward()
    gc.collect()
    with_grad = U.memory_stats()["current_bytes"]
    assert U.memory_stats()["peak_bytes"] - with_grad >= 2000  # w * w, freed with the graph
    w.grad = None
    gc.collect()
    assert with_grad - U.memory_stats()["current_bytes"] == 2000  # w.grad: 500 float32


def test_numpy_resize_and_free_keep_the_count_exact(fresh):
    start = U.memory_stats()["current_bytes"]
    a = np.zeros(1000, np.float32)
    a.resize(3000, refcheck=False)  # realloc through the handler
    assert U.memory_stats()["current_bytes"] - start == 12_000
    del a
    assert U.memory_stats()["current_bytes"] == start


def test_traced_arena_is_counted(fresh):
    w = U.ones(256, 256)

    @U.trace
    def f(x):
        return U.relu(x @ w) * 2.0 + 1.0

    x = U.ones(64, 256)
    for _ in range(4):
        f(x)
    report = f.memory_report()
    assert report.eager_peak_bytes >= 64 * 256 * 4  # at least one (64, 256) intermediate
    assert report.arena_bytes > 0
    gc.collect()
    with_plan = U.memory_stats()["current_bytes"]
    del f, report
    gc.collect()
    assert with_plan - U.memory_stats()["current_bytes"] >= 64 * 256 * 4  # arena freed


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(memory, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
