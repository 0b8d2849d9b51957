"""The standalone edge runtime (mobile/), built once per session by `unified build-runtime` for
the digits CNN (trimmed) plus the full runtime from the same objects: the C API program and
unified-run give eager's outputs for the four reference models, the trimmed runtime has exactly
the bundle's kernels and refuses a bundle needing another one by name, .npy inputs and outputs
round-trip, and corrupted, truncated or foreign files end with a message and a non-zero exit,
never a crash. Sanitizer, fuzzing and aarch64 runs: test_sanitizers.py, test_aarch64.py."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from unified import _core
from unified.export.bundle import load_bundle
from unified.mobile import ops_used

from .conftest import MODEL_NAMES
from .hostile import HOSTILE, fix_crcs, hostile_files
from .reference import eager_output, example_input, run

pytestmark = pytest.mark.slow  # the session's runtime build takes about a minute on 2 cores


def _close_to_eager(got: np.ndarray, want: np.ndarray) -> None:
    """Within 1e-6 relative (of each value, or of the output's scale for values near 0)."""
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * float(np.abs(want).max()))


# ---- the C API (mobile/tests/c_api_test.c) ---------------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_c_api_outputs_equal_eager(host_runtime, bundles, tmp_path, name):
    x = example_input(name) + np.float32(0.25)  # not the stored example
    (tmp_path / "in0.bin").write_bytes(x.tobytes())
    result = run([host_runtime / "c_api_test-full", bundles[name], tmp_path / "out",
                  tmp_path / "in0.bin"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "c_api_test: ok" in result.stdout
    want = eager_output(name, x)
    got = np.frombuffer((tmp_path / "out0.bin").read_bytes(), np.float32).reshape(want.shape)
    _close_to_eager(got, want)


def test_c_api_of_the_trimmed_library_runs_its_model(host_runtime, bundles, tmp_path):
    x = example_input("digits_cnn")
    (tmp_path / "in0.bin").write_bytes(x.tobytes())
    result = run([host_runtime / "c_api_test", bundles["digits_cnn"], tmp_path / "out",
                  tmp_path / "in0.bin"])
    assert result.returncode == 0, result.stdout + result.stderr
    got = np.frombuffer((tmp_path / "out0.bin").read_bytes(), np.float32).reshape(1, 10)
    _close_to_eager(got, eager_output("digits_cnn", x))


# ---- unified-run ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unified_run_verify_passes_and_reports_latency_and_memory(host_runtime, bundles, name):
    result = run([host_runtime / "unified-run-full", bundles[name], "--verify", "--iters", "5",
                  "--warmup", "1", "--json", "--atol", "1e-6", "--rtol", "1e-6"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verify"]["ok"] is True and report["verify"]["pairs"] == 1
    assert report["verify"]["max_abs_diff"] < 1e-5
    lat = report["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["max"]
    assert report["arena_bytes"] == load_bundle(bundles[name]).arena_bytes
    assert report["peak_rss_bytes"] > report["model_bytes"] > bundles[name].stat().st_size


def test_unified_run_text_report(host_runtime, bundles):
    result = run([host_runtime / "unified-run", bundles["digits_cnn"], "--verify", "--iters", "3"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "input 0 'input': float32[1, 1, 32, 32] (random)" in out
    assert "latency over 3 runs (10 warm-up, 1 thread): min " in out
    assert "verify: ok (1 pairs" in out and "peak RSS" in out


def test_verify_fails_when_a_reference_output_changed(host_runtime, bundles, tmp_path):
    from unified.export._fbs import bundle_generated as fbs

    buf = bytearray(bundles["digits_cnn"].read_bytes())
    root = fbs.Bundle.GetRootAs(buf, 64)
    at = root.Data().Offset() + root.References(0).Outputs(0).Offset()
    struct.pack_into("<f", buf, at, struct.unpack_from("<f", buf, at)[0] + 0.5)
    fix_crcs(buf)
    path = tmp_path / "changed.ufb"
    path.write_bytes(bytes(buf))
    result = run([host_runtime / "unified-run", path, "--verify", "--iters", "1"])
    assert result.returncode == 1
    assert "MISMATCH" in result.stdout and "verify: FAILED" in result.stdout


# ---- trimming -------------------------------------------------------------------------------
def test_trimmed_runtime_has_exactly_the_bundle_kernels(host_runtime, bundles):
    listed = run([host_runtime / "unified-run", "--list-kernels"]).stdout.split()
    assert sorted(listed) == load_bundle(bundles["digits_cnn"]).kernels
    full = run([host_runtime / "unified-run-full", "--list-kernels"]).stdout.split()
    collectives = set(ops_used.excluded_kernels())
    assert collectives and sorted(full) == sorted(set(_core.kernel_names()) - collectives)


def test_trimmed_runtime_is_much_smaller_than_the_full_one(host_runtime):
    trimmed = (host_runtime / "unified-run").stat().st_size
    full = (host_runtime / "unified-run-full").stat().st_size
    assert trimmed < full / 2, (trimmed, full)


def test_trimmed_runtime_refuses_a_bundle_needing_another_kernel(host_runtime, bundles):
    result = run([host_runtime / "unified-run", bundles["transformer"]])
    assert result.returncode == 2
    assert result.stdout == ""
    missing = sorted(set(load_bundle(bundles["transformer"]).kernels) - {"linear"})[0]
    assert f"the model needs kernel '{missing}'" in result.stderr
    assert "which this build does not have" in result.stderr


# ---- .npy inputs and outputs ---------------------------------------------------------------
def test_npy_input_and_saved_outputs_round_trip(host_runtime, bundles, tmp_path):
    x = example_input("digits_cnn") * np.float32(0.5)
    np.save(tmp_path / "x.npy", x)
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    result = run([host_runtime / "unified-run", bundles["digits_cnn"], "--input",
                  tmp_path / "x.npy", "--save-outputs", out_dir, "--iters", "2"])
    assert result.returncode == 0, result.stderr
    got = np.load(out_dir / "output0.npy")
    assert got.dtype == np.float32 and got.shape == (1, 10)
    _close_to_eager(got, eager_output("digits_cnn", x))


def test_npy_version_2_header_is_read(host_runtime, bundles, tmp_path):
    x = example_input("digits_cnn")
    with open(tmp_path / "x.npy", "wb") as f:
        np.lib.format.write_array(f, x, version=(2, 0))
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    result = run([host_runtime / "unified-run", bundles["digits_cnn"], "--input",
                  tmp_path / "x.npy", "--save-outputs", out_dir, "--iters", "1"])
    assert result.returncode == 0, result.stderr
    _close_to_eager(np.load(out_dir / "output0.npy"), eager_output("digits_cnn", x))


@pytest.mark.parametrize("array, messages", [
    (np.zeros((1, 1, 32, 32)), ["dtype '<f8' is not supported"]),
    (np.zeros((1, 1, 16, 16), np.float32),
     ["input 0 'input' is float32[1, 1, 32, 32], ", "x.npy holds float32[1, 1, 16, 16]"]),
    (np.zeros((1, 1, 32, 32), ">f4"), ["dtype '>f4' is not supported"]),
    (np.zeros((1, 1, 32, 32), np.float32).T, ["Fortran-order arrays are not supported"]),
], ids=["float64", "shape", "big_endian", "fortran"])
def test_unsuitable_npy_inputs_are_refused(host_runtime, bundles, tmp_path, array, messages):
    np.save(tmp_path / "x.npy", array)
    result = run([host_runtime / "unified-run", bundles["digits_cnn"], "--input",
                  tmp_path / "x.npy"])
    assert result.returncode == 2
    assert all(m in result.stderr for m in messages), result.stderr


@pytest.mark.parametrize("cut", [9, 60, 130])
def test_truncated_or_garbled_npy_is_refused(host_runtime, bundles, tmp_path, cut):
    np.save(tmp_path / "x.npy", example_input("digits_cnn"))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:cut])
    result = run([host_runtime / "unified-run", bundles["digits_cnn"], "--input",
                  tmp_path / "x.npy"])
    assert result.returncode == 2 and "x.npy: " in result.stderr, result.stderr


# ---- hostile files (hostile.py) ---------------------------------------------------------------
@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_bundles_exit_nonzero_with_a_message(host_runtime, bundles, tmp_path, case):
    data, expected = hostile_files(bundles["digits_cnn"].read_bytes())[case]
    path = tmp_path / f"{case}.ufb"
    path.write_bytes(data)
    result = run([host_runtime / "unified-run-full", path, "--iters", "1", "--verify"])
    assert result.returncode == 2, (result.returncode, result.stderr)  # not a signal
    assert result.stderr.startswith(f"unified-run: cannot load the model: {path}: bundle: ")
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_missing_file_and_folder_are_refused(host_runtime, tmp_path):
    for path, expected in [(tmp_path / "none.ufb", "cannot open"),
                           (tmp_path, "is not a regular file")]:
        result = run([host_runtime / "unified-run", path])
        assert result.returncode == 2 and expected in result.stderr, result.stderr


def test_bad_arguments_are_refused(host_runtime, bundles):
    for args, expected in [(["--iters", "0"], "--iters needs an integer in [1, "),
                           (["--threads", "x"], "--threads needs an integer"),
                           (["--bogus"], "unknown option '--bogus'"),
                           ([], None)]:
        cmd = [host_runtime / "unified-run"] + ([bundles["digits_cnn"]] if args else []) + args
        result = run(cmd)
        assert result.returncode == 2
        assert (expected or "no model given") in result.stderr
