"""The committed FlatBuffers code of the bundle schema (export/bundle.fbs) is what flatc 2.0.8
generates from it (tools/gen_bundle_schema.sh), and the vendored headers are that version.
The regeneration test is skipped where flatc 2.0.8 is not installed (CI has no flatc)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["core_cpp/include/unified/bundle_generated.h", "export/_fbs/bundle_generated.py",
             "export/_fbs/__init__.py"]
HEADERS = ROOT / "third_party" / "flatbuffers" / "include" / "flatbuffers"


def _flatc_version() -> str | None:
    if shutil.which("flatc") is None:
        return None
    return subprocess.run(["flatc", "--version"], capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(_flatc_version() != "flatc version 2.0.8", reason="needs flatc 2.0.8")
def test_committed_generated_code_matches_the_schema(tmp_path):
    subprocess.run(["bash", str(ROOT / "tools" / "gen_bundle_schema.sh"), str(tmp_path)],
                   check=True, capture_output=True)
    for rel in GENERATED:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), (
            f"{rel} is stale: run tools/gen_bundle_schema.sh and commit the result")


def test_vendored_headers_are_the_version_the_generated_code_asserts():
    base = (HEADERS / "base.h").read_text()
    version = tuple(int(re.search(rf"#define FLATBUFFERS_VERSION_{part} (\d+)", base).group(1))
                    for part in ("MAJOR", "MINOR", "REVISION"))
    generated = (ROOT / GENERATED[0]).read_text()
    asserted = tuple(int(v) for v in re.search(
        r"FLATBUFFERS_VERSION_MAJOR == (\d+) &&\s+FLATBUFFERS_VERSION_MINOR == (\d+) &&\s+"
        r"FLATBUFFERS_VERSION_REVISION == (\d+)", generated).groups())
    assert version == asserted == (2, 0, 8)
    for name in ("flatbuffers.h", "verifier.h", "flatbuffer_builder.h"):
        assert (HEADERS / name).is_file()
    assert "Apache License" in (ROOT / "third_party" / "flatbuffers" / "LICENSE").read_text()


def test_schema_enums_match_the_cpp_enums():
    """DType, Storage and AttrKind in the schema carry the C++ values (tensor_view.h, plan.h,
    attrs.h), so the reader casts them directly."""
    from unified.export._fbs import bundle_generated as fbs
    from unified.tracer import lower

    assert [fbs.DType.Float32, fbs.DType.Int32, fbs.DType.Int64, fbs.DType.Bool,
            fbs.DType.UInt8] == [0, 1, 2, 3, 4]
    tensor_view = (ROOT / "core_cpp/include/unified/tensor_view.h").read_text()
    assert "kFloat32 = 0, kInt32 = 1, kInt64 = 2, kBool = 3, kUInt8 = 4" in tensor_view
    assert [fbs.Storage.Arena, fbs.Storage.Input, fbs.Storage.Param, fbs.Storage.Output,
            fbs.Storage.Const] == [lower.ARENA, lower.INPUT, lower.PARAM, lower.OUTPUT,
                                   lower.CONST]
    assert "kArena = 0, kInput = 1, kParam = 2, kOutput = 3, kConst = 4" in (
        ROOT / "core_cpp/executor/plan.h").read_text()
    assert [fbs.AttrKind.Int, fbs.AttrKind.Float, fbs.AttrKind.Ints, fbs.AttrKind.Floats,
            fbs.AttrKind.String] == [0, 1, 2, 3, 4]
    assert "kInt, kFloat, kInts, kFloats, kString" in (
        ROOT / "core_cpp/include/unified/attrs.h").read_text()
