"""The runtime under AddressSanitizer + UndefinedBehaviorSanitizer (its own CMake configuration,
`build_runtime(sanitize=True)`: clang when installed, which also builds the libFuzzer target):
the C API program on the four models and unified-run on valid and hostile bundles finish without
a sanitizer report, and a 10-second fuzzing run of mobile/fuzz/fuzz_bundle finds nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from .build_cache import once
from .conftest import MODEL_NAMES
from .hostile import HOSTILE, hostile_files
from .reference import example_input, run

pytestmark = pytest.mark.slow

# A hostile file may ask for a huge arena: the runtime handles a failed allocation, but
# AddressSanitizer aborts on one unless told to return null like malloc does.
SANITIZER_ENV = {**os.environ, "ASAN_OPTIONS": "allocator_may_return_null=1:detect_leaks=1",
                 "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
REPORTS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


@pytest.fixture(scope="module")
def asan_runtime(shared_dir):
    from unified.mobile import build_runtime

    def make(folder):
        build_runtime(None, folder, trimmed=False, sanitize=True, opt="speed")

    return once(shared_dir, "asan_runtime", make)


def _clean(result) -> str:
    text = result.stdout + result.stderr
    assert not any(r in text for r in REPORTS), text[-4000:]
    return text


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_c_api_program_is_clean_under_sanitizers(asan_runtime, bundles, tmp_path, name):
    (tmp_path / "in0.bin").write_bytes(example_input(name).tobytes())
    result = run([asan_runtime / "c_api_test", bundles[name], tmp_path / "out",
                  tmp_path / "in0.bin"], env=SANITIZER_ENV)
    _clean(result)
    assert result.returncode == 0 and "c_api_test: ok" in result.stdout


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unified_run_verify_is_clean_under_sanitizers(asan_runtime, bundles, name):
    result = run([asan_runtime / "unified-run", bundles[name], "--verify", "--iters", "2",
                  "--warmup", "0"], env=SANITIZER_ENV)
    _clean(result)
    assert result.returncode == 0 and "verify: ok" in result.stdout


def test_hostile_bundles_are_refused_cleanly_under_sanitizers(asan_runtime, bundles, tmp_path):
    files = hostile_files(bundles["digits_cnn"].read_bytes())
    for case in HOSTILE:
        data, expected = files[case]
        path = tmp_path / f"{case}.ufb"
        path.write_bytes(data)
        result = run([asan_runtime / "unified-run", path, "--verify"], env=SANITIZER_ENV)
        _clean(result)
        assert result.returncode == 2 and expected in result.stderr, (case, result.stderr)


def test_random_truncations_and_flips_are_clean_under_sanitizers(asan_runtime, bundles, tmp_path):
    data = bundles["transformer"].read_bytes()
    rng = np.random.default_rng(7)
    for i in range(12):
        buf = bytearray(data[:int(rng.integers(0, len(data)))] if i % 2 else data)
        if not i % 2:
            buf[int(rng.integers(0, len(buf)))] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"m{i}.ufb"
        path.write_bytes(bytes(buf))
        result = run([asan_runtime / "unified-run", path, "--iters", "1"], env=SANITIZER_ENV)
        _clean(result)
        assert result.returncode in (0, 2), result.stderr


def test_fuzz_target_runs_ten_seconds_without_a_finding(asan_runtime, tmp_path):
    fuzzer = asan_runtime / "fuzz_bundle"
    if not fuzzer.is_file():
        pytest.skip("libFuzzer needs clang (Debian: clang and libclang-rt-14-dev); the "
                    "sanitizer build used gcc, so fuzz_bundle was not built")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_corpus", os.path.join(os.path.dirname(__file__), "..", "..", "mobile", "fuzz",
                                    "make_corpus.py"))
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    corpus = tmp_path / "corpus"
    make_corpus.write_corpus(corpus)
    result = run([fuzzer, "-max_total_time=10", "-rss_limit_mb=4096", "-malloc_limit_mb=4096",
                  f"-artifact_prefix={tmp_path}/", corpus], env=SANITIZER_ENV, cwd=tmp_path)
    _clean(result)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done " in result.stderr
    assert not list(tmp_path.glob("crash-*"))
