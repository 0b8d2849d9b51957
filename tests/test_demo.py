"""`unified demo` (unified/demo/): the quick demo end to end. Every column's outputs are checked
against eager and against onnxruntime run here on the exported file; a missing optional piece
(the runtime build, matplotlib) leaves its column or file out with a one-line reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from unified.cli import main
from unified.demo import run as demo_run
from unified.demo.train import load_data


def _no_runtime(*args, **kwargs):
    raise RuntimeError("build_runtime: no C++ compiler found (test)")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick demo with the runtime builder failing and matplotlib hidden."""
    import unified.mobile

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(unified.mobile, "build_runtime", _no_runtime)
        for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
            mp.setitem(sys.modules, name, None)  # import matplotlib(.x) -> ImportError
        summary = demo_run.demo(demo_run.namespace(quick=True, out=str(out), no_progress=True))
    return summary


def test_quick_demo_columns_agree_with_eager(quick):
    by_name = {c.name: c for c in quick.columns}
    assert list(by_name) == ["eager", "traced", "ONNX (onnxruntime)"]
    eager = by_name["eager"]
    assert quick.failures == []
    for c in quick.columns[1:]:
        assert c.max_abs_diff < 1e-5, c.name
        assert c.accuracy == eager.accuracy
        np.testing.assert_array_equal(c.outputs[1], eager.outputs[1])
    assert by_name["traced"].max_abs_diff == 0.0  # the same kernels: bit for bit
    assert 0.5 < eager.accuracy <= 1.0  # 2 tiny epochs still learn (chance is 0.1)


def test_quick_demo_accuracy_matches_onnxruntime_run_here(quick):
    data = load_data(quick=True)
    sess = ort.InferenceSession(f"{quick.out}/model.onnx", providers=["CPUExecutionProvider"])
    probs, classes = sess.run(None, {"img_u8": data.test_u8})
    assert probs.shape == (len(data.test_u8), 3)
    assert np.all(np.diff(probs, axis=1) <= 0) and np.all(probs.sum(axis=1) <= 1 + 1e-6)
    eager = quick.columns[0]
    assert eager.accuracy == pytest.approx(float((classes[:, 0] == data.test_labels).mean()))
    np.testing.assert_allclose(eager.outputs[0], probs, atol=1e-5)


def test_quick_demo_writes_the_report_and_reasons(quick):
    from unified.export import load_bundle

    out = quick.out
    for name in ("summary.md", "loss.csv", "train_step.dot", "model.onnx", "model.ufb",
                 "model.ufc", "check/model_test.ufb"):
        assert (Path(out) / name).is_file(), name
    assert load_bundle(f"{out}/model.ufb").verify() < 1e-5
    md = Path(out, "summary.md").read_text()
    assert md.startswith("|  | eager | traced | ONNX (onnxruntime) |")
    assert "| max abs diff vs eager |  | 0 |" in md  # eager is the reference: blank
    assert "- runtime: RuntimeError: build_runtime: no C++ compiler found (test)" in md
    assert any(n.startswith("plots: matplotlib is not installed") for n in quick.notes)
    assert any(n.startswith("summary.png: matplotlib is not installed") for n in quick.notes)
    assert not (Path(out) / "summary.png").exists()
    losses = np.loadtxt(f"{out}/loss.csv", delimiter=",", skiprows=1, usecols=2)
    assert len(losses) == 2 * (320 // 32) and np.isfinite(losses).all()
    assert Path(out, "train_step.dot").read_text().startswith('digraph "train_step"')


def test_demo_refuses_fewer_than_two_epochs(tmp_path, capsys):
    assert main(["demo", "--quick", "--epochs", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["unified demo: demo: --epochs must be >= 2 (one eager, then traced), got 1"]


@pytest.mark.slow
def test_quick_demo_runs_the_bundle_in_the_trimmed_runtime(tmp_path):
    summary = demo_run.demo(demo_run.namespace(quick=True, out=str(tmp_path), no_progress=True))
    by_name = {c.name: c for c in summary.columns}
    assert list(by_name) == ["eager", "traced", "bundle (runtime)", "ONNX (onnxruntime)"]
    runtime = by_name["bundle (runtime)"]
    assert summary.failures == [] and runtime.max_abs_diff < 1e-5
    assert runtime.accuracy == by_name["eager"].accuracy
    assert runtime.latency_us > 0 and "unified-run" in runtime.size
    assert (tmp_path / "runtime" / "unified-run").is_file()


@pytest.mark.slow
def test_python_dash_m_unified_demo_quick(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "unified", "demo", "--quick", "--no-runtime",
                           "--no-progress", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("max abs diff vs eager") for line in lines)
    assert "runtime: skipped (--no-runtime)" in lines
    assert (tmp_path / "summary.md").is_file()
    png = (tmp_path / "summary.png").read_bytes()  # matplotlib is in the dev extra
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_a_column_that_disagrees_with_eager_is_reported():
    from unified.demo.deploy import Column

    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], np.float32)
    classes = np.array([[3, 1, 0], [2, 0, 1]], np.int64)
    eager = Column("eager", 1.0, outputs=[probs, classes])
    close = Column("traced", 1.0, outputs=[probs + 4e-6, classes])
    off = Column("ONNX (onnxruntime)", 1.0, outputs=[probs + np.float32(2e-3), classes])
    failures = demo_run._agreement([eager, close, off], eager)
    assert close.max_abs_diff == pytest.approx(4e-6, rel=1e-2)
    assert off.max_abs_diff == pytest.approx(2e-3, rel=1e-3)
    assert failures == ["ONNX (onnxruntime) disagrees with eager: max abs diff 0.002 "
                        "(tolerance 1e-05), accuracy 1.0000 vs 1.0000"]
