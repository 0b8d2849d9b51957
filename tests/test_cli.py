"""The `unified` command: help, exit codes, and `inspect` on ONNX files (bundles: in
tests/export/test_bundle_cli.py once bundles exist); bad files give one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from unified.cli import main


def _onnx_file(path):
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"]),
         helper.make_node("Relu", ["z"], ["out"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"class_names": '["a", "b"]'})
    onnx.save(model, path)


def test_inspect_onnx_summarises_inputs_ops_constants_and_metadata(tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    _onnx_file(path)
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "  x: float32[batch, 3]" in out and "  out: float32[batch, 4]" in out
    assert "ops (3 nodes):" in out and "  Relu                     x2" in out
    assert "constants: 1 tensors, 48 bytes" in out and 'class_names: ["a", "b"]' in out


def test_bad_files_and_usage_give_exit_codes_and_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage" * 3)
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unified inspect: ") and "not a readable ONNX file" in err
    assert main(["inspect", str(tmp_path / "missing.onnx")]) == 1
    assert "No such file" in capsys.readouterr().err
    assert main([]) == 2


def test_python_dash_m_runs_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "unified", "inspect", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "a .ufb bundle or an .onnx file" in proc.stdout


def test_inspect_bundle_and_our_onnx_export(tmp_path, capsys):
    import unified as U
    from unified import export, nn

    U.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    example = (U.zeros(2, 1, 8, 8),)
    bundle, onnx_path = str(tmp_path / "m.ufb"), str(tmp_path / "m.onnx")
    export.save_bundle(model, example, bundle, metadata={"class_names": ["a", "b", "c"]})
    export.to_onnx(model, example, onnx_path, dynamic_axes={"input": {0: "batch"}})
    assert main(["inspect", bundle]) == 0
    out = capsys.readouterr().out
    assert "function Sequential" in out and "  input: float32[2, 1, 8, 8]" in out
    assert "fused_conv2d             x1" in out and "batch_norm" not in out  # folded, fused
    assert 'class_names: ["a", "b", "c"]' in out and "reference pairs: 1" in out
    assert main(["inspect", onnx_path]) == 0
    out = capsys.readouterr().out
    assert "producer: unified " + U.__version__ in out and "input: float32[batch, 1, 8, 8]" in out
    assert "Conv                     x1" in out and "BatchNormalization" not in out
    truncated = tmp_path / "cut.ufb"
    truncated.write_bytes((tmp_path / "m.ufb").read_bytes()[:100])
    assert main(["inspect", str(truncated)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unified inspect: ") and "cut.ufb" in err and "Traceback" not in err
