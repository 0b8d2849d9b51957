"""Dynamic batch bundles (format 2, export/bundle_dynamic.py and core_cpp/bundle/bundle_batch.cpp):
saved with dynamic_batch=True they run in C++ (through _core) at any batch up to max_batch and
give eager's outputs; graphs whose plan is not affine in the batch are refused by name; a
hostile format 2 file (bad slopes, buffers, batch range) is refused by the reader; fixed-batch
bundles stay format 1."""

from __future__ import annotations

import dataclasses
import struct
from unittest import mock

import numpy as np
import pytest
from unified.export import bundle as bundle_mod
from unified.export.bundle import load_bundle, save_bundle
from unified.export.bundle_dynamic import fit_batch

import unified as U
from unified.errors import BundleError, ExportError

from .models import MODELS

BATCHES = (1, 3, 7, 16)


def _close_to_eager(got: np.ndarray, want: np.ndarray) -> None:
    """Within 1e-6 relative (of each value, or of the output's scale for values near 0)."""
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * float(np.abs(want).max()))


def _input(shape: tuple, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(n + 100 * seed)
    return rng.standard_normal((n, *shape[1:])).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """The MLP and the digits CNN saved at batch 2 with dynamic_batch=True."""
    folder = tmp_path_factory.mktemp("dynamic")
    out = {}
    for name in ("mlp", "digits_cnn"):
        model, example = MODELS[name](batch=2)
        save_bundle(model, example, folder / f"{name}.ufb", dynamic_batch=True)
        out[name] = (model, tuple(example[0].shape), folder / f"{name}.ufb")
    return out


@pytest.mark.parametrize("name", ["mlp", "digits_cnn"])
def test_dynamic_bundle_runs_at_every_batch_like_eager(saved, name):
    model, shape, path = saved[name]
    b = load_bundle(path)
    assert (b.batch, b.max_batch) == (2, 4096)
    for n in BATCHES:
        x = _input(shape, n)
        got = b.run(x)[0]
        assert b.batch == n
        with U.no_grad():
            want = model(U.tensor(x)).numpy()
        assert got.shape == want.shape == (n, *want.shape[1:])
        _close_to_eager(got, want)
    assert b.verify(atol=1e-6, rtol=1e-6) < 1e-5  # references at the saved batch 2 again
    assert b.batch == 2


def test_dynamic_bundle_is_format_2_and_a_fixed_one_stays_format_1(saved, tmp_path):
    model, example = MODELS["mlp"](batch=2)
    save_bundle(model, example, tmp_path / "fixed.ufb")
    fixed = load_bundle(tmp_path / "fixed.ufb")
    assert struct.unpack_from("<I", (tmp_path / "fixed.ufb").read_bytes(), 4) == (1,)
    assert (fixed.batch, fixed.max_batch) == (None, None)
    with pytest.raises(ValueError, match=r"saved without dynamic_batch=True"):
        fixed.run(_input((2, 20), 3))
    dynamic = load_bundle(saved["mlp"][2])
    assert struct.unpack_from("<I", saved["mlp"][2].read_bytes(), 4) == (2,)
    assert dynamic._inputs[0][3] == {0: "N"} and dynamic._outputs[0][3] == {0: "N"}
    assert "batch: dynamic, N in 1..4096" in dynamic.summary()


def test_arena_is_replanned_for_the_batch(saved):
    b = load_bundle(saved["digits_cnn"][2])
    small = b.arena_bytes
    b.run(_input((2, 1, 32, 32), 16))
    assert b.arena_bytes >= 8 * small - 64 * 8  # buffers grow with N; 64-byte alignment aside


def test_only_the_batch_may_change_and_not_above_max(tmp_path):
    model, example = MODELS["mlp"](batch=2)
    save_bundle(model, example, tmp_path / "m.ufb", dynamic_batch=True, max_batch=8)
    b = load_bundle(tmp_path / "m.ufb")
    assert b.max_batch == 8
    with pytest.raises(ValueError, match=r"batch 9 is outside 1\.\.8"):
        b.run(_input((2, 20), 9))
    with pytest.raises(ValueError, match=r"input 'input' of shape \[N, 20\], got \(3, 21\) "
                                         r"\(only the batch may change\)"):
        b.run(np.zeros((3, 21), np.float32))
    with pytest.raises(ValueError, match=r"max_batch=1 must be an int in 2\.\.2\^31"):
        save_bundle(model, example, tmp_path / "m.ufb", dynamic_batch=True, max_batch=1)
    with pytest.raises(ValueError, match=r"max_batch needs dynamic_batch=True"):
        save_bundle(model, example, tmp_path / "m.ufb", max_batch=8)


def test_batch_dynamic_inputs_must_agree(tmp_path):
    def add(x, y):
        return x * 2.0 + y

    args = (U.ones(2, 3), U.ones(2, 3))
    save_bundle(add, args, tmp_path / "add.ufb", dynamic_batch=True)
    b = load_bundle(tmp_path / "add.ufb")
    x, y = _input((2, 3), 5), _input((2, 3), 5, seed=1)
    np.testing.assert_array_equal(b.run(x, y)[0], x * 2.0 + y)
    with pytest.raises(ValueError, match=r"x: 4, y: 5\); all batch-dynamic inputs must agree"):
        b.run(_input((2, 3), 4), _input((2, 3), 5))
    with pytest.raises(ExportError, match=r"dim 0 differ \(2 and 3 for argument 1\)"):
        save_bundle(add, (U.ones(2, 3), U.ones(3, 3)), tmp_path / "bad.ufb", dynamic_batch=True)


def test_a_plan_not_affine_in_the_batch_is_refused(tmp_path):
    def first_half(x):
        return x[: x.shape[0] // 2 + 1] * 2.0

    with pytest.raises(ExportError, match=r"plan\.outputs\[0\]\.shape\[0\] is not affine in the "
                                          r"batch N \(a \* N \+ b\): 3 at N=4, 3 at N=5, 4 at "
                                          r"N=7"):
        save_bundle(first_half, (U.ones(4, 3),), tmp_path / "m.ufb", dynamic_batch=True)


def test_a_constant_made_from_the_batch_is_refused(tmp_path):
    def add_row_index(x):
        rows = U.tensor(np.arange(x.shape[0], dtype=np.float32)).reshape(-1, 1)
        return x + rows

    with pytest.raises(ExportError, match=r"plan changes with the batch at plan\.consts\[0\] "
                                          r"\(a constant depends on the batch.*\(4, 1\).* at "
                                          r"batch 4, .*\(5, 1\)"):
        save_bundle(add_row_index, (U.ones(4, 3),), tmp_path / "m.ufb", dynamic_batch=True)


def test_dynamic_batch_and_dynamic_axes_are_exclusive(tmp_path):
    model, example = MODELS["mlp"](batch=2)
    with pytest.raises(ValueError, match=r"dynamic_batch or dynamic_axes, not both"):
        save_bundle(model, example, tmp_path / "m.ufb", dynamic_batch=True,
                    dynamic_axes={"input": {0: "N"}})


# ---- hostile format 2 files: written with a tampered BatchPlan (valid CRCs) ------------------
def _hostile(tmp_path, edit) -> bytes:
    """The digits CNN saved at batch 1 with `edit(BatchPlan) -> BatchPlan` applied."""
    model, example = MODELS["digits_cnn"](batch=1)

    def tampered(*args, **kwargs):
        return edit(fit_batch(*args, **kwargs))

    with mock.patch.object(bundle_mod, "fit_batch", tampered):
        save_bundle(model, example, tmp_path / "h.ufb", dynamic_batch=True)
    return (tmp_path / "h.ufb").read_bytes()


def _slopes(batch, **changes):
    return dataclasses.replace(batch, slopes={**batch.slopes, **changes})


HOSTILE = {
    "shape slope overflows at max": (
        lambda b: _slopes(b, **{"steps[0].outputs[0].shape[1]": (1 << 47) - 1}),
        r"at batch 4096, plan\.steps\[0\]\.outputs\[0\]\.shape is out of range"),
    "slope out of range": (
        lambda b: _slopes(b, **{"inputs[0].shape[0]": 1 << 50}),
        r"plan\.inputs\[0\]\.shape_slope\[0\] = 1125899906842624 is out of range"),
    "operand outgrows its buffer": (
        lambda b: dataclasses.replace(b, buffers=[(o, n, 0, f, t) for o, n, _, f, t in
                                                  b.buffers]),
        r"at batch 4096, plan\.steps\[0\]\.outputs\[0\] spans bytes \[0, \d+\) of its "
        r"arena buffer 0 of 65536 bytes"),
    "buffer index out of range": (
        lambda b: dataclasses.replace(b, operand_buffers={
            k: 99 for k in b.operand_buffers}),
        r"\.buffer = 99 is not one of the 4 arena buffers"),
    "max above 2^31": (
        lambda b: dataclasses.replace(b, max=1 << 40),
        r"plan\.batch saved = 1, max = 1099511627776: need 1 <= saved <= max <= 2147483648"),
    "buffer shrinks below zero": (
        lambda b: dataclasses.replace(b, buffers=[(o, n, -n, f, t) for o, n, _, f, t in
                                                  b.buffers]),
        r"at batch 4096, plan\.batch\.buffers\[0\]\.nbytes = 65536 \+ -65536 \* 4095 is out "
        r"of range"),
    "lifetime reversed": (
        lambda b: dataclasses.replace(b, buffers=[(o, n, s, t + 1, t) for o, n, s, f, t in
                                                  b.buffers]),
        r"plan\.batch\.buffers\[0\] is live from step 2 to 1"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_dynamic_bundle_is_refused(tmp_path, case):
    edit, message = HOSTILE[case]
    data = _hostile(tmp_path, edit)
    with pytest.raises(BundleError, match=message):
        load_bundle(data)


def test_format_1_file_with_a_batch_table_is_refused(tmp_path):
    buf = bytearray(_hostile(tmp_path, lambda b: b))
    struct.pack_into("<I", buf, 4, 1)  # the preamble's version is outside the CRC
    with pytest.raises(BundleError, match=r"plan\.batch \(a dynamic batch\) is present, but "
                                          r"bytes 4\.\.8 say format version 1"):
        load_bundle(bytes(buf))


def test_format_2_file_without_a_batch_table_is_refused(tmp_path):
    model, example = MODELS["mlp"](batch=1)
    save_bundle(model, example, tmp_path / "fixed.ufb")
    buf = bytearray((tmp_path / "fixed.ufb").read_bytes())
    struct.pack_into("<I", buf, 4, 2)
    with pytest.raises(BundleError, match=r"format version 2 needs plan\.batch"):
        load_bundle(bytes(buf))


# ---- ONNX with the same batch axis -----------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "digits_cnn"])
def test_onnx_export_with_dynamic_batch_runs_at_two_batches(tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    from unified.export.onnx import to_onnx

    model, example = MODELS[name](batch=2)
    proto = to_onnx(model, example, tmp_path / "m.onnx", dynamic_batch=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = _input(tuple(example[0].shape), n)
        (got,) = session.run(None, {session.get_inputs()[0].name: x})
        with U.no_grad():
            want = model(U.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize("name", ["mlp", "digits_cnn"])
def test_replanned_plan_equals_the_plan_compiled_at_that_batch(saved, name):
    """The C++ re-plan (affine values, buffers placed again) gives exactly the plan the tracer
    compiles for a recording at that batch: every kernel, operand offset, shape and stride."""
    from unified.export.freeze import inference_graph
    from unified.tracer import pipeline

    model, shape, path = saved[name]
    b = load_bundle(path)
    x = _input(shape, 7)
    b.run(x)
    exe = pipeline.compile(inference_graph(model, (U.tensor(x),)).graph)
    assert b.arena_bytes == exe.memory.arena_bytes
    assert b._core.describe() == exe.describe()
