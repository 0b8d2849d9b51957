"""mobile/python/ops_used.py and build_runtime's argument checks (no compiler needed): the
generated registry fill names exactly the bundle's kernels, the kernel table read from the C++
sources agrees with unified._core, and kernels the edge runtime cannot have are refused by name."""

from __future__ import annotations

import re

import pytest

from unified import _core
from unified.mobile import build_runtime, ops_used


def test_kernel_table_from_the_sources_matches_core():
    table = ops_used.available_kernels()
    excluded = ops_used.excluded_kernels()
    assert excluded, "the collective kernels should be found in collective.cpp"
    assert set(table) | set(excluded) == set(_core.kernel_names())
    assert not set(table) & set(excluded)
    assert table["conv2d"] == ("conv2d", "conv.cpp")
    assert table["adaptive_avg_pool2d"] == ("adaptive_avg_pool2d", "pool.cpp")


def test_generated_fill_registers_exactly_the_kernels_sorted():
    text = ops_used.generate(["linear", "fused_conv2d", "adaptive_avg_pool2d", "linear"],
                             "digits.ufb")
    adds = re.findall(r'r->add\("(\w+)", (\w+)\);', text)
    assert adds == [("adaptive_avg_pool2d", "adaptive_avg_pool2d"),
                    ("fused_conv2d", "fused_conv2d"), ("linear", "linear")]
    decls = re.findall(r"^Status (\w+)\(const KernelArgs& args\);  // (\w+\.cpp)$", text, re.M)
    assert decls == [("adaptive_avg_pool2d", "pool.cpp"), ("fused_conv2d", "conv.cpp"),
                     ("linear", "matmul.cpp")]
    assert "KernelRegistry& all_kernels()" in text and "digits.ufb" in text
    assert "register_" not in text  # no family registration: nothing else is referenced


def test_unknown_and_collective_kernels_are_refused_by_name():
    with pytest.raises(ValueError, match="m.ufb needs kernel 'conv3d', which no file of "):
        ops_used.generate(["relu", "conv3d"], "m.ufb")
    with pytest.raises(ValueError, match="needs kernel 'all_reduce', which the edge runtime "
                                         "does not have: a collective needs a process group"):
        ops_used.generate(["all_reduce"], "m.ufb")
    with pytest.raises(ValueError, match="lists no kernels"):
        ops_used.generate([], "m.ufb")


def test_write_if_changed_keeps_the_file_time(tmp_path):
    path = tmp_path / "ops_used.cpp"
    ops_used.write_if_changed(path, "a")
    before = path.stat().st_mtime_ns
    ops_used.write_if_changed(path, "a")
    assert path.stat().st_mtime_ns == before
    ops_used.write_if_changed(path, "b")
    assert path.read_text() == "b"


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "riscv"}, "target must be one of"),
    ({"opt": "fast"}, "opt must be one of"),
    ({"native": True, "target": "aarch64"}, "native=True builds for this machine"),
])
def test_build_runtime_refuses_bad_options(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_runtime(tmp_path / "m.ufb", tmp_path / "rt", **kwargs)


def test_build_runtime_needs_a_bundle_to_trim(tmp_path):
    with pytest.raises(ValueError, match="a trimmed runtime needs a bundle"):
        build_runtime(None, tmp_path / "rt")


def test_build_runtime_checks_the_bundle_before_building(tmp_path):
    from unified.errors import BundleError

    (tmp_path / "m.ufb").write_bytes(b"UFB1" + bytes(10))
    with pytest.raises(BundleError, match="the file has 14 bytes"):
        build_runtime(tmp_path / "m.ufb", tmp_path / "rt")
    assert not (tmp_path / "rt" / "build").exists()
