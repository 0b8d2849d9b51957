"""Dynamic batch in the standalone runtime: the MLP and the digits CNN saved with
dynamic_batch=True run through the C API (mobile/tests/c_api_test.c --batch N, which sets every
input's dim 0 with urt_set_input_shape) at N = 1, 3, 7, 16 and give eager's outputs; a hostile
format 2 bundle is refused at load; a fixed-batch bundle still refuses another shape (that
branch of c_api_test runs in test_runtime.py for the format 1 bundles); unified-run --batch;
and the re-planning is clean under AddressSanitizer and UBSan."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

import unified as U

from ..export.models import MODELS
from .build_cache import once
from .reference import run

pytestmark = pytest.mark.slow  # needs the session's runtime build (about a minute on 2 cores)

NAMES = ("mlp", "digits_cnn")


@pytest.fixture(scope="module")
def dynamic_bundles(shared_dir) -> dict[str, Path]:
    """The two models saved at batch 2 with dynamic_batch=True."""
    from unified.export.bundle import save_bundle

    def make(folder: Path) -> None:
        for name in NAMES:
            model, example = MODELS[name](batch=2)
            save_bundle(model, example, folder / f"{name}.ufb", dynamic_batch=True)

    folder = once(shared_dir, "dynamic_bundles", make)
    return {name: folder / f"{name}.ufb" for name in NAMES}


@pytest.fixture(scope="module")
def asan_runtime(shared_dir):
    """The sanitizer build test_sanitizers.py makes (the same shared folder: built once)."""
    from unified.mobile import build_runtime

    def make(folder):
        build_runtime(None, folder, trimmed=False, sanitize=True, opt="speed")

    return once(shared_dir, "asan_runtime", make)


def _eager(name: str, x: np.ndarray) -> np.ndarray:
    model, _ = MODELS[name](batch=2)
    with U.no_grad():
        return model(U.tensor(x)).numpy()


@pytest.mark.parametrize("name", NAMES)
def test_c_api_runs_a_dynamic_bundle_at_every_batch_like_eager(host_runtime, dynamic_bundles,
                                                               tmp_path, name):
    _, example = MODELS[name](batch=2)
    for n in (1, 3, 7, 16):
        rng = np.random.default_rng(n)
        x = rng.standard_normal((n, *example[0].shape[1:])).astype(np.float32)
        (tmp_path / "in0.bin").write_bytes(x.tobytes())
        result = run([host_runtime / "c_api_test-full", dynamic_bundles[name], tmp_path / "out",
                      "--batch", n, tmp_path / "in0.bin"])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "c_api_test: ok" in result.stdout
        want = _eager(name, x)
        got = np.frombuffer((tmp_path / "out0.bin").read_bytes(), np.float32)
        assert got.size == want.size, (n, got.size, want.shape)
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6,
                                   atol=1e-6 * float(np.abs(want).max()))


def test_c_api_refuses_a_hostile_dynamic_bundle(host_runtime, tmp_path):
    from unittest import mock

    from unified.export import bundle as bundle_mod
    from unified.export.bundle_dynamic import fit_batch

    def tampered(*args, **kwargs):
        batch = fit_batch(*args, **kwargs)
        return dataclasses.replace(batch, buffers=[(o, n, 0, f, t) for o, n, _, f, t in
                                                   batch.buffers])

    model, example = MODELS["digits_cnn"](batch=1)
    with mock.patch.object(bundle_mod, "fit_batch", tampered):
        bundle_mod.save_bundle(model, example, tmp_path / "h.ufb", dynamic_batch=True)
    result = run([host_runtime / "c_api_test-full", tmp_path / "h.ufb", tmp_path / "out"])
    assert result.returncode == 1
    assert "FAILED load:" in result.stdout and "of its arena buffer 0 of 65536 bytes" in (
        result.stdout), result.stdout
    assert struct.unpack_from("<I", (tmp_path / "h.ufb").read_bytes(), 4) == (2,)


def test_unified_run_batch_option_runs_npy_inputs(host_runtime, dynamic_bundles, bundles,
                                                  tmp_path):
    x = np.random.default_rng(5).standard_normal((5, 1, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run([host_runtime / "unified-run-full", dynamic_bundles["digits_cnn"], "--batch", 5,
                  "--input", tmp_path / "x.npy", "--save-outputs", tmp_path, "--iters", 2,
                  "--warmup", 0])
    assert result.returncode == 0, result.stderr
    assert "5, 1, 32, 32" in result.stdout  # the input as run, not as saved (batch 2)
    want = _eager("digits_cnn", x)
    got = np.load(tmp_path / "output0.npy")
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * float(np.abs(want).max()))
    fixed = run([host_runtime / "unified-run-full", bundles["digits_cnn"], "--batch", 3])
    assert fixed.returncode == 2
    assert "exported without dynamic_batch=True" in fixed.stderr, fixed.stderr


def test_replanning_is_clean_under_sanitizers(asan_runtime, dynamic_bundles, tmp_path):
    from .test_sanitizers import REPORTS, SANITIZER_ENV

    for n in (1, 16):
        x = np.random.default_rng(n).standard_normal((n, 1, 32, 32)).astype(np.float32)
        (tmp_path / "in0.bin").write_bytes(x.tobytes())
        result = run([asan_runtime / "c_api_test", dynamic_bundles["digits_cnn"],
                      tmp_path / "out", "--batch", n, tmp_path / "in0.bin"], env=SANITIZER_ENV)
        text = result.stdout + result.stderr
        assert not any(r in text for r in REPORTS), text[-4000:]
        assert result.returncode == 0 and "c_api_test: ok" in result.stdout, text[-4000:]
        want = _eager("digits_cnn", x)
        got = np.frombuffer((tmp_path / "out0.bin").read_bytes(), np.float32)
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5,
                                   atol=1e-5 * float(np.abs(want).max()))
