"""Hostile bundle files: truncated, corrupted, edited or made up by hand. Every one must give a
BundleError naming what is wrong, never a crash and never another exception type. The fuzzing
runs in-process on purpose: a crash in the C++ reader would kill pytest."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from unified.export._fbs import bundle_generated as fbs
from unified.export.bundle import load_bundle, save_bundle

import unified as U
from unified import _core, nn
from unified.errors import BundleError

from .models import MODELS

F = nn.functional
FB_START = 64


@pytest.fixture(scope="module")
def bundle_bytes(tmp_path_factory) -> bytes:
    """A real bundle: uint8 image, /255, conv + BatchNorm (folded), pool, linear, softmax, topk."""
    U.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)).eval()

    def infer(img_u8):
        x = img_u8.float() / 255.0
        return F.softmax(model(x), dim=1).topk(3, dim=1)

    img = U.tensor(np.random.default_rng(0).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8))
    path = tmp_path_factory.mktemp("fuzz") / "m.ufb"
    save_bundle(infer, (img,), path, metadata={"class_names": list("abcdefghij")})
    return path.read_bytes()


# ---- editing helpers: find a field with the generated reader, patch it, fix the CRCs --------
def _fb_size(buf: bytearray) -> int:
    return struct.unpack_from("<Q", buf, 8)[0]


def _fix_crc(buf: bytearray) -> bytearray:
    """Recompute the preamble's FlatBuffer CRC (so the checks after it are reached)."""
    size = min(_fb_size(buf), max(len(buf) - FB_START, 0))
    struct.pack_into("<I", buf, 16, zlib.crc32(bytes(buf[FB_START:FB_START + size])))
    return buf


def _root(buf: bytearray) -> fbs.Bundle:
    return fbs.Bundle.GetRootAs(buf, FB_START)


def _field(table, slot: int) -> int:
    """Absolute position of scalar field `slot` (every scalar is written: ForceDefaults)."""
    o = table._tab.Offset(4 + 2 * slot)
    assert o, f"field {slot} absent"
    return table._tab.Pos + o


def _element(table, slot: int, i: int, size: int = 8) -> int:
    """Absolute position of element i of vector field `slot`."""
    return table._tab.Vector(table._tab.Offset(4 + 2 * slot)) + size * i


def _edit(data: bytes, where, fmt: str, value) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, where(_root(buf)), value)
    return bytes(_fix_crc(buf))


def _fix_data_crc(buf: bytearray) -> bytearray:
    section = _root(buf).Data()
    start = section.Offset()
    struct.pack_into("<I", buf, _field(section, 2), zlib.crc32(bytes(buf[start:])))
    return _fix_crc(buf)


def _load_and_run(data: bytes) -> str:
    """'refused' (a BundleError) or 'ran' (loaded, ran on its stored inputs, gave arrays)."""
    try:
        m = load_bundle(data)
    except BundleError:
        return "refused"
    inputs = m._core.references[0][0] if m.num_references else [
        np.zeros(s[2], s[1]) for s in m._core.inputs]
    try:
        outputs = m.run(*inputs)
    except BundleError:
        return "refused"
    assert all(isinstance(o, np.ndarray) for o in outputs)
    return "ran"


# ---- the fuzzer -------------------------------------------------------------------------------
def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random corruption: byte flips (FlatBuffer or data section), a truncation, inserted
    garbage, or a preamble field edit; most fix the CRCs up so the later checks run."""
    buf = bytearray(data)
    fb_end = FB_START + _fb_size(buf)
    kind = rng.integers(0, 8)
    if kind <= 2:  # flips inside the FlatBuffer, CRC fixed: the Verifier and semantic checks
        for _ in range(rng.integers(1, 5)):
            buf[rng.integers(FB_START, fb_end)] ^= 1 << int(rng.integers(0, 8))
        return bytes(_fix_crc(buf))
    if kind == 3:  # random bytes written over the FlatBuffer, CRC fixed
        at = int(rng.integers(FB_START, fb_end - 8))
        buf[at:at + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        return bytes(_fix_crc(buf))
    if kind == 4:  # truncation
        return bytes(buf[:rng.integers(0, len(buf))])
    if kind == 5:  # garbage inserted into the FlatBuffer, size and CRC fixed up
        at = int(rng.integers(FB_START, fb_end))
        garbage = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        buf[at:at] = garbage
        struct.pack_into("<Q", buf, 8, _fb_size(buf) + len(garbage))
        return bytes(_fix_crc(buf))
    if kind == 6:  # a preamble field: version, size, CRC or a reserved byte
        offset, fmt = [(4, "<I"), (8, "<Q"), (16, "<I"), (int(rng.integers(20, 64)), "<B")][
            int(rng.integers(0, 4))]
        bits = struct.calcsize(fmt) * 8
        struct.pack_into(fmt, buf, offset, int(rng.integers(0, 2 ** min(bits, 63))))
        return bytes(buf)
    # flips in the data section with its CRC fixed: weights and references change, still safe
    start = _root(buf).Data().Offset()
    buf[rng.integers(start, len(buf))] ^= 0xFF
    return bytes(_fix_data_crc(buf))


@pytest.fixture
def one_thread():
    """Tiny kernels on one thread: no pool wake-ups, so the fuzz loop stays fast on busy hosts."""
    before = _core.get_num_threads()
    _core.set_num_threads(1)
    yield
    _core.set_num_threads(before)


@pytest.fixture(scope="module")
def transformer_bytes(tmp_path_factory) -> bytes:
    """A second real bundle with other kernels (matmul, layer_norm, softmax, views)."""
    model, example = MODELS["transformer"]()
    path = tmp_path_factory.mktemp("fuzz") / "t.ufb"
    save_bundle(model, example, path)
    return path.read_bytes()


@pytest.mark.parametrize("which", ["bundle_bytes", "transformer_bytes"])
def test_fuzzed_bundles_are_refused_or_run_never_crash(request, which, one_thread):
    data = request.getfixturevalue(which)
    assert _load_and_run(data) == "ran"
    rng = np.random.default_rng(1234)
    outcomes = {"refused": 0, "ran": 0}
    for _ in range(2500):
        outcomes[_load_and_run(_mutate(data, rng))] += 1
    assert outcomes["refused"] > 0.7 * 2500  # most corruptions are caught, not only by the CRC


def test_flatbuffer_flips_without_crc_fix_are_caught_by_the_crc(bundle_bytes):
    buf = bytearray(bundle_bytes)
    buf[FB_START + 100] ^= 0x10
    with pytest.raises(BundleError, match=r"<bytes>: bundle: bytes 64\.\.\d+ \(flatbuffer\) "
                                          r"have CRC-32 \d+ but bytes 16\.\.20 record"):
        load_bundle(bytes(buf))


def test_data_flip_without_crc_fix_names_the_data_section(bundle_bytes):
    buf = bytearray(bundle_bytes)
    buf[-1] ^= 0x01
    with pytest.raises(BundleError, match=r"\(data section\) have CRC-32"):
        load_bundle(bytes(buf))


def test_changed_reference_output_fails_verify(bundle_bytes):
    buf = bytearray(bundle_bytes)
    root = _root(buf)
    values = root.References(0).Outputs(0)
    at = root.Data().Offset() + values.Offset()
    struct.pack_into("<f", buf, at, struct.unpack_from("<f", buf, at)[0] + 0.5)
    m = load_bundle(bytes(_fix_data_crc(buf)))
    with pytest.raises(BundleError, match="reference pair 0: output 'output0' differs by up "
                                          "to 0.5"):
        m.verify()


# ---- hand-made hostile files ------------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    (b"", "the file has 0 bytes, less than the 64-byte preamble"),
    (b"PK\x03\x04" + bytes(200), r"bytes 0\.\.4 \(magic\) are not \"UFB1\""),
    (b"UFB1" + bytes(10), "the file has 14 bytes"),
])
def test_empty_and_foreign_files(data, message):
    with pytest.raises(BundleError, match=message):
        load_bundle(data)


def test_empty_file_on_disk(tmp_path):
    (tmp_path / "empty.ufb").write_bytes(b"")
    with pytest.raises(BundleError, match=r"empty\.ufb: bundle: the file has 0 bytes"):
        load_bundle(tmp_path / "empty.ufb")


def test_newer_format_version_says_upgrade(bundle_bytes):
    buf = bytearray(bundle_bytes)
    struct.pack_into("<I", buf, 4, 3)
    with pytest.raises(BundleError, match=r"format version\) = 3, this reader reads versions "
                                          r"1\.\.2 \(written by a newer unified: upgrade\)"):
        load_bundle(bytes(buf))


def test_const_range_outside_the_weights(bundle_bytes):
    def const_offset(root):
        return _field(root.Plan().Consts(0), 3)

    data = _edit(bundle_bytes, const_offset, "<Q", 1 << 40)
    with pytest.raises(BundleError, match=r"plan\.consts\[0\] bytes \[1099511627776, \+\d+\) lie "
                                          "outside the data section"):
        load_bundle(data)
    data = _edit(bundle_bytes, const_offset, "<Q", 4)
    with pytest.raises(BundleError, match=r"plan\.consts\[0\]\.offset 4 is not a multiple of 64"):
        load_bundle(data)


def test_operand_past_the_arena(bundle_bytes):
    root = _root(bytearray(bundle_bytes))
    k = next(i for i in range(root.Plan().StepsLength())
             if root.Plan().Steps(i).Inputs(0).Storage() == fbs.Storage.Arena)
    arena = root.Plan().ArenaBytes()
    data = _edit(bundle_bytes, lambda r: _field(r.Plan().Steps(k).Inputs(0), 2), "<q", arena)
    with pytest.raises(BundleError, match=rf"plan\.steps\[{k}\] \(kernel '\w+'\): plan: input 0 "
                                          rf".* outside arena 0 of {arena} bytes"):
        load_bundle(data)


def test_operand_slot_and_storage_out_of_range(bundle_bytes):
    data = _edit(bundle_bytes, lambda r: _field(r.Plan().Steps(0).Inputs(0), 1), "<i", 7)
    with pytest.raises(BundleError, match="reads input slot 7 but the plan has 1"):
        load_bundle(data)
    data = _edit(bundle_bytes, lambda r: _field(r.Plan().Steps(0).Inputs(0), 0), "<b", 9)
    with pytest.raises(BundleError, match=r"steps\[0\]\.inputs\[0\]\.storage has unknown code 9"):
        load_bundle(data)


def test_unknown_kernel_is_named(bundle_bytes):
    fb_end = FB_START + _fb_size(bytearray(bundle_bytes))
    head = bundle_bytes[:fb_end].replace(b"softmax", b"softmix")
    with pytest.raises(BundleError, match="the model needs kernel 'softmix'.*which this build "
                                          "does not have"):
        load_bundle(bytes(_fix_crc(bytearray(head + bundle_bytes[fb_end:]))))


def test_negative_and_huge_shapes(bundle_bytes):
    def input_dim(i):
        return lambda r: _element(r.Plan().Inputs(0), 2, i)

    data = _edit(bundle_bytes, input_dim(0), "<q", -2)
    with pytest.raises(BundleError, match=r"plan\.inputs\[0\]\.shape\[0\] is negative \(-2\)"):
        load_bundle(data)
    buf = bytearray(bundle_bytes)
    for i in range(4):
        struct.pack_into("<q", buf, input_dim(i)(_root(buf)), 1 << 20)
    with pytest.raises(BundleError, match=r"plan\.inputs\[0\]\.shape is too large"):
        load_bundle(bytes(_fix_crc(buf)))


def test_wrong_dtype_enum(bundle_bytes):
    data = _edit(bundle_bytes, lambda r: _field(r.Plan().Consts(0), 1), "<b", 42)
    with pytest.raises(BundleError, match=r"plan\.consts\[0\]\.dtype has unknown dtype code 42"):
        load_bundle(data)


def test_huge_stride_cannot_overflow_the_bounds_check(bundle_bytes):
    data = _edit(bundle_bytes, lambda r: _element(r.Plan().Steps(0).Inputs(0), 5, 0), "<q",
                 (1 << 62) + 1)
    with pytest.raises(BundleError, match=r"steps\[0\]\.inputs\[0\]\.strides\[0\] = "
                                          r"\d+ is out of range"):
        load_bundle(data)


def test_step_whose_shapes_disagree_with_its_op(bundle_bytes):
    root = _root(bytearray(bundle_bytes))
    k = next(i for i in range(root.Plan().StepsLength())
             if root.Plan().Steps(i).Op() == b"softmax")
    data = _edit(bundle_bytes, lambda r: _element(r.Plan().Steps(k).Outputs(0), 4, 1), "<q", 5)
    data = _edit(data, lambda r: _element(r.Plan().Steps(k).Outputs(0), 5, 0), "<q", 5)
    with pytest.raises(BundleError, match=rf"plan\.steps\[{k}\] \(softmax .*give float32\[2, 10\]"
                                          r", the step writes float32\[2, 5\]"):
        load_bundle(data)


def test_strided_output_operand_is_refused(bundle_bytes):
    data = _edit(bundle_bytes, lambda r: _element(r.Plan().Steps(0).Outputs(0), 5, 3), "<q", 0)
    with pytest.raises(BundleError, match=r"steps\[0\]\.outputs\[0\] .* is not C-contiguous"):
        load_bundle(data)


def test_bad_utf8_and_bad_json_metadata(bundle_bytes):
    buf = bytearray(bundle_bytes)
    at = buf.index(b'"a", "b"', FB_START)
    buf[at + 1] = 0xFF
    with pytest.raises(BundleError, match=r"metadata\.user\[0\]\.value is not valid UTF-8"):
        load_bundle(bytes(_fix_crc(buf)))
    buf[at + 1] = ord("a")
    buf[at] = ord("[")  # valid UTF-8, invalid JSON: [[a", "b", ...
    with pytest.raises(BundleError, match=r"metadata\['class_names'\] is not JSON"):
        load_bundle(bytes(_fix_crc(buf)))


def test_bad_output_structure(bundle_bytes):
    buf = bytearray(bundle_bytes)
    at = buf.index(b'{"out": 1}', FB_START)
    buf[at + 8] = ord("0")  # both leaves now output 0
    with pytest.raises(BundleError, match=r"out_structure uses outputs \[0, 0\], the plan has 2"):
        load_bundle(bytes(_fix_crc(buf)))
