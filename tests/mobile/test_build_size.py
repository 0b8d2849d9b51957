"""The edge runtime's size build (build_runtime's default opt="size": -Os, LTO, one conv tile
shape; packed relocations, no RELRO) and its opt-in compact GEMM (a plain-loop matrix product
instead of Eigen's). The default size build for this machine's ISA computes exactly what
unified._core computes (the digits CNN bit for bit); its full runtime verifies every reference
bundle (1e-6), and a conv whose output channels are not a multiple of the tile (the compact
tile's padded rows) with 7-wide rows. With compact_gemm the trimmed digits runtime is within
issue 6's 150 KB target on the toolchain it was measured with (x86-64 Linux, GCC 12; elsewhere
that check is skipped) and still verifies within 1e-6."""

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
        # trimmed + full; native: the same vector ISA as unified._core, so the same bits (a
        # generic x86-64 build sums with other vector widths: equal within 1e-6, not bitwise)
        build_runtime(bundles["digits_cnn"], folder, opt="size", native=True)

    return once(shared_dir, "size_runtime", make)


@pytest.fixture(scope="module")
def compact_runtime(shared_dir, bundles) -> Path:
    from unified.mobile import build_runtime

    def make(folder: Path) -> None:
        build_runtime(bundles["digits_cnn"], folder, opt="size", compact_gemm=True, full=False)

    return once(shared_dir, "compact_gemm_runtime", make)


def _verify(exe: Path, bundle: Path, tol: str = "1e-6") -> dict:
    proc = subprocess.run([str(exe), str(bundle), "--verify", "--iters", "3", "--warmup", "1",
                           "--json", "--atol", tol, "--rtol", tol],
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


def test_default_size_build_computes_what_core_computes(size_runtime, bundles, tmp_path):
    from unified.export import load_bundle

    bundle = load_bundle(bundles["digits_cnn"])
    x = np.random.default_rng(7).standard_normal(bundle._inputs[0][2]).astype(np.float32)
    expected = bundle.run(x)  # the same kernels through unified._core
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([str(size_runtime / "unified-run"), str(bundles["digits_cnn"]),
                           "--input", str(tmp_path / "x.npy"), "--iters", "1", "--warmup", "0",
                           "--threads", "1", "--save-outputs", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, want in zip(bundle.output_names, expected):
        got = np.load(tmp_path / f"{name}.npy")
        np.testing.assert_array_equal(got, want)  # bit for bit: Eigen's GEMM, the same tiles


def test_compact_gemm_trimmed_digits_runtime_is_within_150_kb(compact_runtime, bundles):
    report = _verify(compact_runtime / "unified-run", bundles["digits_cnn"])
    assert report["ok"] is True
    version = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout
    if platform.machine() != "x86_64" or not re.search(r"\b12\.\d+\.\d+", version):
        pytest.skip("the 150 KB figure is for x86-64 with GCC 12; sizes vary by toolchain")
    size = (compact_runtime / "unified-run").stat().st_size
    assert size <= 150_000, f"trimmed digits runtime with compact_gemm is {size:,} bytes"
