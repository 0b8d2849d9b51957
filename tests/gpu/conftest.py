"""Tests marked `gpu` need a real CUDA device through CuPy; elsewhere they skip and say why
(CuPy missing, or CuPy's reason). The rest of tests/gpu runs everywhere on the fake device."""

import pytest


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import unified.cuda

    reason = unified.cuda.unavailable_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: {reason}")
    for item in gpu_items:
        item.add_marker(skip)
