"""Tests for unified/memory.py: opt-in tracking of the bytes held by tensor data."""

import gc

import pytest

import unified as U
from unified import dispatch, memory


@pytest.fixture
def tracking():
    with U.track_memory(True):
        gc.collect()
        U.reset_peak_memory_stats()
        yield


def test_allocating_raises_current_and_peak_and_freeing_lowers_current(tracking):
    start = U.memory_stats()["current_bytes"]
    x = U.ones(1000)  # not counted until an op uses it
    y = x * 2.0  # counts x (4,000 bytes) and y (4,000 bytes), plus the 4-byte scalar
    stats = U.memory_stats()
    assert stats["current_bytes"] - start >= 8000
    assert stats["peak_bytes"] >= stats["current_bytes"]
    del x, y
    gc.collect()
    assert U.memory_stats()["current_bytes"] - start < 100
    assert U.memory_stats()["peak_bytes"] - start >= 8000


def test_reset_peak_sets_peak_to_current(tracking):
    big = U.zeros(10_000) + 1.0
    del big
    gc.collect()
    assert U.memory_stats()["peak_bytes"] >= 40_000
    U.reset_peak_memory_stats()
    stats = U.memory_stats()
    assert stats["peak_bytes"] == stats["current_bytes"]
    assert stats["allocated_bytes.all.peak"] == stats["peak_bytes"]


def test_views_count_their_base_once(tracking):
    x = U.zeros(100, 10) + 1.0
    before = U.memory_stats()["current_bytes"]
    v = x.reshape(1000)
    _ = v[:10] * v[10:20]  # reads views of x, already counted; only the 40-byte result is new
    assert U.memory_stats()["current_bytes"] - before == 40


def test_backward_allocations_are_counted(tracking):
    w = U.ones(500, requires_grad=True)
    (w * w).sum().backward()
    gc.collect()
    with_grad = U.memory_stats()["current_bytes"]
    assert U.memory_stats()["peak_bytes"] - with_grad >= 2000  # w * w, freed with the graph
    w.grad = None
    gc.collect()
    assert with_grad - U.memory_stats()["current_bytes"] == 2000  # w.grad: 500 float32


def test_tracking_is_off_by_default_and_restored_by_the_context_manager():
    assert memory._observer not in dispatch.OBSERVERS.get()
    with U.track_memory():
        assert memory.is_tracking_memory()
        with U.track_memory(False):
            assert not memory.is_tracking_memory()
        assert memory.is_tracking_memory()
    assert not memory.is_tracking_memory()


def test_stats_before_tracking_was_ever_enabled_raise_with_the_fix(monkeypatch):
    monkeypatch.setitem(memory._stats, "ever_enabled", False)
    with pytest.raises(RuntimeError, match=r"call unified.track_memory\(True\) first"):
        U.memory_stats()


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(memory, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
