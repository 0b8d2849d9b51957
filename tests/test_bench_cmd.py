"""`unified bench model.ufb` (unified/demo/bench.py): latency statistics, --verify against the
stored reference pairs, --input files, and one line with exit status 1 for a bad bundle."""

from __future__ import annotations

import re

import numpy as np
import pytest

import unified as U
from unified import export
from unified.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "affine.ufb"
    export.save_bundle(lambda x: U.relu(x * 2.0 + 1.0), (U.tensor(np.linspace(
        -1, 1, 12, dtype=np.float32).reshape(3, 4)),), path)
    return path


def test_bench_prints_min_median_max_and_verifies(bundle, capsys):
    assert main(["bench", str(bundle), "--iters", "7", "--warmup", "2", "--verify"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"latency over 7 runs \(2 warm-up, 1 thread\): min ([\d.]+) µs, median "
                  r"([\d.]+) µs, max ([\d.]+) µs", out)
    assert m, out
    low, mid, high = map(float, m.groups())
    assert 0 < low <= mid <= high
    assert "bundle " in out and "x float32[3, 4]" in out
    assert "verify: ok (1 pairs, max abs diff 0)" in out


def test_bench_reads_inputs_from_npy(bundle, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((3, 4), np.float32))
    assert main(["bench", str(bundle), "--iters", "2", "--input", str(x)]) == 0
    assert "median" in capsys.readouterr().out
    assert main(["bench", str(bundle), "--input", str(x), "--input", str(x)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unified bench: --input given 2 times; the bundle has 1 inputs (x)")


def test_bench_truncated_bundle_is_one_line_and_exit_1(bundle, tmp_path, capsys):
    cut = tmp_path / "cut.ufb"
    cut.write_bytes(bundle.read_bytes()[:100])
    assert main(["bench", str(cut), "--iters", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"unified bench: {cut}: ")


def test_bench_rejects_bad_counts(bundle, capsys):
    assert main(["bench", str(bundle), "--iters", "0"]) == 1
    assert "--iters must be >= 1" in capsys.readouterr().err
