"""Tests for unified/serialization.py and unified/_checkpoint_read.py: exact round trips,
the documented layout, clear errors for damaged or foreign files, and atomic saves."""

import collections
import io
import json
import os
import struct
import zlib

import numpy as np
import pytest

import unified as U
from unified import serialization
from unified.errors import BundleError, CheckpointError


def _state():
    rng = np.random.default_rng(0)
    return {
        "model": collections.OrderedDict([
            ("fc.weight", U.tensor(rng.standard_normal((4, 3)).astype(np.float32))),
            ("fc.bias", U.tensor(np.array([np.inf, -0.0, np.nan], np.float32))),
            ("bn.num_batches_tracked", U.tensor(7)),
        ]),
        "ints32": U.tensor(np.array([[1, -2]], np.int32)),
        "mask": U.tensor(np.array([True, False, True])),
        "image": U.tensor(rng.integers(0, 255, (2, 3, 4), dtype=np.uint8)),
        "scalar": U.tensor(np.float32(2.5)),
        "empty": U.zeros(0, 5),
        "optimizer": {"state": {0: {"step": 3, "momentum_buffer": U.ones(2)}},
                      "param_groups": [{"lr": 0.1, "params": [0, 1], "nesterov": False,
                                        "betas": (0.9, 0.999), "name": None}]},
        "numpy": np.arange(6, dtype=np.float64).reshape(2, 3),
        "floats": [float("inf"), float("-inf"), 1e-300, -1.5],
        "big": 2**70,
    }


def _assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, U.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # NaN == NaN here, bit-exact data
        assert a.numpy().tobytes() == b.numpy().tobytes()
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_round_trip_is_exact_for_every_dtype_and_container(tmp_path):
    path = tmp_path / "ckpt.pt"
    U.save(_state(), path)
    _assert_same(_state(), U.load(path))
    _assert_same(_state(), U.load(str(path), map_location="cpu", weights_only=True))


def test_round_trip_through_a_file_object():
    buf = io.BytesIO()
    U.save([U.arange(4), "x"], buf)
    buf.seek(0)
    out = U.load(buf)
    assert out[0].tolist() == [0, 1, 2, 3] and out[1] == "x"


def test_loaded_tensors_are_writable_and_keep_requires_grad(tmp_path):
    p = U.nn.Parameter(U.ones(3))
    U.save({"p": p, "g": U.zeros(2, requires_grad=True), "same": [p, p]}, tmp_path / "c")
    out = U.load(tmp_path / "c")
    assert isinstance(out["p"], U.nn.Parameter) and out["p"].requires_grad
    assert out["g"].requires_grad and type(out["g"]) is U.Tensor
    assert out["same"][0] is out["same"][1] is out["p"]  # one object saved once, loaded once
    with U.no_grad():
        out["p"].add_(1.0)
    assert out["p"].tolist() == [2.0, 2.0, 2.0]


def test_layout_matches_the_spec(tmp_path):
    U.save({"w": U.tensor([1.0, 2.0])}, tmp_path / "c")
    raw = (tmp_path / "c").read_bytes()
    magic, version, header_nbytes, header_crc = struct.unpack_from("<8sIQI", raw)
    assert magic == b"\x89UCKPT\r\n" and version == 1
    header_bytes = raw[24:24 + header_nbytes]
    assert zlib.crc32(header_bytes) == header_crc
    header = json.loads(header_bytes)
    entry, = header["tensors"]
    assert entry["dtype"] == "float32" and entry["shape"] == [2] and entry["nbytes"] == 8
    data = raw[24 + header_nbytes:]
    assert data == np.array([1.0, 2.0], "<f4").tobytes() and zlib.crc32(data) == entry["crc32"]
    assert header["tree"] == {"dict": [["w", {"tensor": 0}]]}


def test_unsavable_objects_name_the_path(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['opt'\]\[1\] of type object"):
        U.save({"opt": [1, object()]}, tmp_path / "c")
    assert not list(tmp_path.iterdir())  # nothing written, no temp file left


def _saved(tmp_path):
    path = tmp_path / "ckpt.pt"
    U.save({"w": U.ones(64), "b": U.zeros(3)}, path)
    return path, path.read_bytes()


def test_truncated_file_names_the_tensor_and_sizes(tmp_path):
    path, raw = _saved(tmp_path)
    path.write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match=r"ckpt.pt: truncated: the file has \d+ bytes but "
                                              r"its data ends at byte \d+; tensor "
                                              r"\"checkpoint\['b'\]\"") as info:
        U.load(path)
    assert "test_serialization.py" in str(info.value)
    path.write_bytes(raw[:30])
    with pytest.raises(CheckpointError, match="truncated: the header length at offset 12"):
        U.load(path)
    path.write_bytes(raw[:5])
    with pytest.raises(CheckpointError, match="truncated: the file has 5 bytes"):
        U.load(path)


def test_flipped_data_byte_is_a_crc_mismatch(tmp_path):
    path, raw = _saved(tmp_path)
    damaged = bytearray(raw)
    damaged[-20] ^= 0x01  # inside tensor 'w'
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match=r"CRC32 mismatch in tensor 0 \"checkpoint\['w'\]\" "
                                              r"\(float32 \(64,\), bytes \d+\.\.\d+\)"):
        U.load(path)


def test_flipped_header_byte_is_a_header_crc_mismatch(tmp_path):
    path, raw = _saved(tmp_path)
    damaged = bytearray(raw)
    damaged[40] ^= 0x20
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="header CRC32 mismatch: stored 0x[0-9a-f]{8} "
                                              r"\(offset 20\), computed"):
        U.load(path)


def test_every_single_byte_flip_is_detected(tmp_path):
    path, raw = _saved(tmp_path)
    for offset in range(0, len(raw), 7):
        damaged = bytearray(raw)
        damaged[offset] ^= 0x10
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError):
            U.load(path)


def test_foreign_files_say_what_they_look_like(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(CheckpointError, match="not a unified checkpoint.*zip file"):
        U.load(path)
    path.write_bytes(b"\x80\x04\x95" + b"\0" * 100)
    with pytest.raises(CheckpointError, match="pickle, which unified never loads"):
        U.load(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="the file is empty"):
        U.load(path)


def test_unsupported_version_names_both_versions(tmp_path):
    path, raw = _saved(tmp_path)
    path.write_bytes(raw[:8] + struct.pack("<I", 2) + raw[12:])
    with pytest.raises(CheckpointError, match="unsupported checkpoint format version 2 .*offset 8"
                                              ".*reads version 1"):
        U.load(path)


def test_checkpoint_error_is_a_value_error_and_a_bundle_error():
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, BundleError)
    assert U.CheckpointError is CheckpointError


def _rewrite_header(raw: bytes, edit) -> bytes:
    """A file whose header was changed by `edit` and re-CRCed (a hostile, consistent file)."""
    _, _, n, _ = struct.unpack_from("<8sIQI", raw)
    header = json.loads(raw[24:24 + n])
    edit(header)
    body = json.dumps(header).encode()
    return struct.pack("<8sIQI", raw[:8], 1, len(body), zlib.crc32(body)) + body + raw[24 + n:]


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["tensors"][0].update(nbytes=10**12), r"tensors\[0\].*inconsistent"),
    (lambda h: h["tensors"][0].update(shape=[-1]), r"tensors\[0\]\.shape must be a list"),
    (lambda h: h["tensors"][0].update(dtype="object"), r"tensors\[0\]\.dtype is 'object'"),
    (lambda h: h.update(tree={"tensor": 9}), "tree is not a valid node"),
    (lambda h: h.update(tree={"exec": "import os"}), "tree is not a valid node"),
    (lambda h: h.pop("tensors"), "'tensors' is missing"),
])
def test_hostile_but_crc_valid_headers_are_rejected(tmp_path, edit, message):
    path, raw = _saved(tmp_path)
    path.write_bytes(_rewrite_header(raw, edit))
    with pytest.raises(CheckpointError, match=message):
        U.load(path)


def test_interrupted_save_keeps_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    U.save({"w": U.ones(3)}, path)
    before = path.read_bytes()
    calls = []

    def failing_writer(out, array):
        calls.append(1)
        out.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_tensor_data", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        U.save({"w": U.zeros(100)}, path)
    assert calls and path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    monkeypatch.undo()
    assert U.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def test_keyboard_interrupt_during_save_also_cleans_up(tmp_path, monkeypatch):
    def interrupted(out, array):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_tensor_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        U.save({"w": U.ones(3)}, tmp_path / "new.pt")
    assert os.listdir(tmp_path) == []


def test_saving_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        U.save({}, tmp_path / "nope" / "c.pt")


def test_model_state_dict_round_trip(tmp_path):
    model = U.nn.Sequential(U.nn.Linear(3, 2), U.nn.ReLU(), U.nn.Linear(2, 1))
    U.save(model.state_dict(), tmp_path / "m.pt")
    other = U.nn.Sequential(U.nn.Linear(3, 2), U.nn.ReLU(), U.nn.Linear(2, 1))
    other.load_state_dict(U.load(tmp_path / "m.pt"))
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(serialization, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
