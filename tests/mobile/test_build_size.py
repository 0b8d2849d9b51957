"""The edge runtime's size build (build_runtime's default opt="size": -Os, LTO, compact kernels,
that is one conv tile shape and a plain-loop GEMM instead of Eigen's; packed relocations, no
RELRO). Its full runtime verifies every reference bundle against the eager outputs stored in it
(1e-6), and a conv whose output channels are not a multiple of the tile (the compact tile's
padded rows) with 7-wide rows; the trimmed digits runtime is within issue 6's 150 KB target on
the toolchain it was measured with (x86-64 Linux, GCC 12); elsewhere that check is skipped."""

from __future__ import annotations

import json
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .build_cache import once
from .conftest import MODEL_NAMES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def size_runtime(shared_dir, bundles) -> Path:
    from unified.mobile import build_runtime

    def make(folder: Path) -> None:
        build_runtime(bundles["digits_cnn"], folder, opt="size")  # trimmed + full, the default

    return once(shared_dir, "size_runtime", make)


def _verify(exe: Path, bundle: Path) -> dict:
    proc = subprocess.run([str(exe), str(bundle), "--verify", "--iters", "3", "--warmup", "1",
                           "--json", "--atol", "1e-6", "--rtol", "1e-6"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["verify"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_size_build_verifies_every_reference_model(size_runtime, bundles, name):
    report = _verify(size_runtime / "unified-run-full", bundles[name])
    assert report["ok"] is True and report["pairs"] == 1


def test_size_build_conv_with_a_partial_tile(size_runtime, tmp_path):
    import unified as U
    from unified import export, nn

    U.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 10, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(10, 6, 3, stride=2, padding=1), nn.Flatten(),
                          nn.Linear(6 * 5 * 4, 3)).eval()
    x = U.tensor(np.random.default_rng(4).standard_normal((1, 3, 9, 7)).astype(np.float32))
    path = tmp_path / "partial.ufb"
    export.save_bundle(model, (x,), path)
    report = _verify(size_runtime / "unified-run-full", path)
    assert report["ok"] is True and report["max_abs_diff"] < 1e-5


def test_trimmed_digits_runtime_is_within_150_kb(size_runtime):
    version = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout
    if platform.machine() != "x86_64" or not re.search(r"\b12\.\d+\.\d+", version):
        pytest.skip("the 150 KB figure is for x86-64 with GCC 12; sizes vary by toolchain")
    size = (size_runtime / "unified-run").stat().st_size
    assert size <= 150_000, f"trimmed digits runtime is {size:,} bytes"
    assert (size_runtime / "unified-run-full").stat().st_size > 2 * size
