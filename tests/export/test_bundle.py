"""export/bundle.py: a bundle saved from a traced inference function loads, runs in C++ with the
eager numbers, keeps its metadata, output structure and reference pairs, and refuses inputs of
the wrong dtype or shape with a clear error. Hostile files: test_bundle_fuzz.py."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from unified.export._fbs import bundle_generated as fbs
from unified.export.bundle import Bundle, load_bundle, save_bundle
from unified.export.freeze import inference_graph
from unified.tracer import pipeline

import unified as U
from unified import _core, nn
from unified.errors import BundleError

from .models import MODELS

F = nn.functional
CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _cnn() -> nn.Module:
    """A small CNN with BatchNorm (non-trivial statistics) in eval mode."""
    U.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    model[1].running_mean.copy_(U.tensor([0.1, -0.2, 0.3, 0.0]))
    model[1].running_var.copy_(U.tensor([0.5, 1.5, 1.0, 2.0]))
    return model.eval()


def _mlp() -> nn.Module:
    U.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


def _digits(model: nn.Module):
    """uint8 image -> /255 and normalize -> model -> softmax -> top 3 (values, indices)."""
    def infer(img_u8):
        x = (img_u8.float() / 255.0 - 0.5) / 0.25
        return F.softmax(model(x), dim=1).topk(3, dim=1)

    return infer


def _image(batch: int = 2, seed: int = 0) -> U.Tensor:
    rng = np.random.default_rng(seed)
    return U.tensor(rng.integers(0, 256, (batch, 1, 8, 8)).astype(np.uint8))


def _eager(fn, *args):
    with U.no_grad():
        return fn(*args)


@pytest.fixture
def digits_file(tmp_path):
    infer = _digits(_cnn())
    path = tmp_path / "digits.ufb"
    save_bundle(infer, (_image(),), path, metadata={"class_names": CLASSES, "author": "tests"})
    return infer, path


@pytest.mark.parametrize("make", [_cnn, _mlp], ids=["cnn", "mlp"])
def test_bundle_output_equals_eager_and_topk_indices_match(tmp_path, make):
    infer = _digits(make())
    save_bundle(infer, (_image(),), tmp_path / "m.ufb")
    m = load_bundle(tmp_path / "m.ufb")
    for seed in range(3):  # new images, not only the stored example
        img = _image(seed=seed + 10)
        got, want = m(img), _eager(infer, img)
        assert type(got).__name__ == "TopK" and got._fields == ("values", "indices")
        np.testing.assert_allclose(got.values.numpy(), want.values.numpy(), rtol=1e-6,
                                   atol=1e-7)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        assert got.indices.dtype == np.int64


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_models_round_trip_within_1e6_relative(tmp_path, name):
    model, example = MODELS[name]()
    save_bundle(model, example, tmp_path / f"{name}.ufb")
    m = load_bundle(tmp_path / f"{name}.ufb")
    got, want = m(*example).numpy(), _eager(model, *example).numpy()
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-6 * scale
    assert m.verify() <= 1e-6 * scale


def test_metadata_and_class_names_survive(digits_file):
    _, path = digits_file
    md = load_bundle(path).metadata
    assert md["class_names"] == CLASSES and md["author"] == "tests"
    assert md["framework_version"] == U.__version__ and md["name"] == "infer"
    assert md["created_utc"].endswith("Z") and len(md["created_utc"]) == 20
    assert len(md["content_hash"]) == 64 and int(md["content_hash"], 16) >= 0


def test_content_hash_depends_on_weights_not_on_time_or_metadata(tmp_path):
    model = _cnn()
    save_bundle(_digits(model), (_image(),), tmp_path / "a.ufb", metadata={"k": 1})
    save_bundle(_digits(model), (_image(seed=5),), tmp_path / "b.ufb", metadata={"k": 2})
    with U.no_grad():
        model[5].bias.data.add_(1.0)
    save_bundle(_digits(model), (_image(),), tmp_path / "c.ufb")
    a, b, c = (load_bundle(tmp_path / f"{n}.ufb").metadata["content_hash"] for n in "abc")
    assert a == b and a != c


def test_reference_pairs_verify_and_a_changed_reference_fails(digits_file, tmp_path):
    infer, path = digits_file
    m = load_bundle(path)
    assert m.num_references == 1 and m.verify() <= 1e-6
    m2 = load_bundle(path)
    inputs, outputs = m2._core.references[0]
    np.testing.assert_array_equal(inputs[0], _image().numpy())
    np.testing.assert_array_equal(outputs[1], _eager(infer, _image()).indices.numpy())
    with pytest.raises(BundleError, match="reference pair 0: output 'output0' differs"):
        m2.verify(atol=-1.0)  # every difference is above a negative tolerance


def test_references_list_and_none(tmp_path):
    infer = _digits(_cnn())
    save_bundle(infer, (_image(),), tmp_path / "r.ufb",
                references=[(_image(seed=s),) for s in (1, 2, 3)])
    m = load_bundle(tmp_path / "r.ufb")
    assert m.num_references == 3 and m.verify() <= 1e-6
    np.testing.assert_array_equal(m._core.references[2][0][0], _image(seed=3).numpy())
    save_bundle(infer, (_image(),), tmp_path / "n.ufb", references=None)
    with pytest.raises(BundleError, match="no reference pairs"):
        load_bundle(tmp_path / "n.ufb").verify()
    with pytest.raises(ValueError, match=r"saved for input 'img_u8' of shape \(2, 1, 8, 8\)"):
        save_bundle(infer, (_image(),), tmp_path / "x.ufb", references=[(_image(batch=3),)])


def test_kernels_list_equals_the_plans_kernels(digits_file):
    infer, path = digits_file
    m = load_bundle(path)
    lowered = pipeline.compile(inference_graph(infer, (_image(),)).graph).lowered
    assert m.kernels == sorted({s.kernel for s in lowered.steps})
    assert m.kernels == sorted({s[0] for s in m._core.steps})
    assert set(m.kernels) <= set(_core.kernel_names())
    assert m.arena_bytes == lowered.arena_bytes > 0


def test_bytes_and_path_loads_behave_the_same(digits_file):
    _, path = digits_file
    data = path.read_bytes()
    img = _image(seed=7)
    results = []
    for m in (load_bundle(path), load_bundle(data), load_bundle(bytearray(data)),
              load_bundle(path, copy=True)):
        assert isinstance(m, Bundle) and m.input_names == ["img_u8"]
        assert m.output_names == ["output0", "output1"]
        results.append([np.asarray(a) for a in m.run(img)])
        assert m.summary().splitlines()[1:] == load_bundle(path).summary().splitlines()[1:]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_a_run_allocates_nothing_in_the_executor(digits_file):
    _, path = digits_file
    m = load_bundle(path)
    img = _image().numpy()
    m.run(img)
    before = _core.executor_allocations()
    for _ in range(3):
        m.run(img)
    assert _core.executor_allocations() == before


def test_wrong_inputs_give_clear_errors(digits_file):
    _, path = digits_file
    m = load_bundle(path)
    with pytest.raises(ValueError, match=r"saved for input 'img_u8' of shape \(2, 1, 8, 8\), "
                                         r"got \(4, 1, 8, 8\)"):
        m(_image(batch=4))
    with pytest.raises(TypeError, match="input 'img_u8' must be uint8, got float32"):
        m(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(TypeError, match=r"takes 1 inputs \(img_u8\), got 2"):
        m(_image(), _image())
    sliced = np.zeros((2, 1, 8, 16), np.uint8)[..., ::2]  # a strided view is accepted
    assert m(sliced).values.shape == (2, 3)


def test_dict_results_output_names_and_dynamic_axes(tmp_path):
    model = _mlp()

    def infer(x):
        logits = model(x)
        return {"logits": logits, "probs": F.softmax(logits, dim=1)}

    x = U.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32))
    save_bundle(infer, (x,), tmp_path / "d.ufb", output_names=["logits", "probs"],
                dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}})
    m = load_bundle(tmp_path / "d.ufb")
    got, want = m(x), _eager(infer, x)
    assert list(got) == ["logits", "probs"]
    np.testing.assert_allclose(got["probs"].numpy(), want["probs"].numpy(), rtol=1e-6)
    assert m._core.inputs[0] == ("x", "float32", (2, 1, 8, 8), {0: "batch"})
    assert m._core.outputs[1][3] == {0: "batch"}
    assert "x: float32[batch, 1, 8, 8]" in m.summary()
    with pytest.raises(ValueError, match="dynamic_axes names 'y'"):
        save_bundle(infer, (x,), tmp_path / "e.ufb", dynamic_axes={"y": {0: "batch"}})
    with pytest.raises(ValueError, match="need an axis in 0..3"):
        save_bundle(infer, (x,), tmp_path / "e.ufb", dynamic_axes={"x": {4: "batch"}})


def test_summary_lists_interface_ops_constants_arena_kernels_metadata(digits_file):
    _, path = digits_file
    text = load_bundle(path).summary()
    for part in ("img_u8: uint8[2, 1, 8, 8]", "output1: int64[2, 3]", "ops (", "topk",
                 "constants: ", "arena: ", "kernels (", 'class_names: ["zero", "one"',
                 "reference pairs: 1"):
        assert part in text, part


def test_save_is_atomic_and_bad_metadata_is_refused(tmp_path, digits_file):
    infer, path = digits_file
    before = path.read_bytes()
    with pytest.raises(ValueError, match="metadata\\['bad'\\] is not JSON-encodable"):
        save_bundle(infer, (_image(),), path, metadata={"bad": object()})
    with pytest.raises(ValueError, match="metadata key 'name'"):
        save_bundle(infer, (_image(),), path, metadata={"name": "x"})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["digits.ufb"]


def test_file_layout_preamble_and_aligned_data_section(digits_file):
    _, path = digits_file
    data = path.read_bytes()
    assert data[:4] == b"UFB1" and int.from_bytes(data[4:8], "little") == 1
    fb_size = int.from_bytes(data[8:16], "little")
    assert data[20:64] == bytes(44) and data[68:72] == b"UFB1"
    assert int.from_bytes(data[16:20], "little") == zlib.crc32(data[64:64 + fb_size])
    root = fbs.Bundle.GetRootAs(data, 64)
    start = root.Data().Offset()
    assert start == -(-(64 + fb_size) // 64) * 64 and root.Data().Nbytes() == len(data) - start
    assert data[64 + fb_size:start] == bytes(start - 64 - fb_size)
    assert root.Data().Crc32() == zlib.crc32(data[start:])
    plan = root.Plan()
    weights = {plan.Consts(i).Name().decode(): plan.Consts(i) for i in range(plan.ConstsLength())}
    assert all(c.Offset() % 64 == 0 for c in weights.values())
    bias = weights["model.5.bias"]  # a linear bias, not folded: stored as is
    stored = np.frombuffer(data, np.float32, 10, start + bias.Offset())
    np.testing.assert_array_equal(stored, _cnn()[5].bias.detach().numpy())


def test_path_loads_use_weights_in_place_and_bytes_loads_copy_once(digits_file):
    """A memory-mapped file is 64-byte aligned: the plan allocates only its arena and reads
    the constants from the mapping. Bytes not 64-byte aligned are copied once."""
    _, path = digits_file
    data = path.read_bytes()
    before = _core.executor_allocations()
    m = load_bundle(path)
    assert _core.executor_allocations() - before == 1  # the arena
    block = np.zeros(len(data) + 64, np.uint8)
    skew = (1 - block.ctypes.data) % 64  # start one byte past a 64-byte boundary
    misaligned = block[skew:skew + len(data)]
    misaligned[:] = np.frombuffer(data, np.uint8)
    before = _core.executor_allocations()
    load_bundle(misaligned)
    assert _core.executor_allocations() - before == 2  # the aligned copy and the arena
    refs = m._core.references[0][0][0]
    assert not refs.flags.writeable and refs.base is not None
