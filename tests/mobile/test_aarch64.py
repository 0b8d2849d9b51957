"""The trimmed digits runtime cross-compiled for 64-bit ARM (Debian's g++-aarch64-linux-gnu,
-O2, the quicker build) runs under qemu-aarch64 (qemu-user): --verify passes against the
reference outputs eager computed on this machine, and the outputs for a .npy input match the
x86-64 runtime's within 1e-5. Skipped, with the reason, when the toolchain or qemu is absent."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from .build_cache import once
from .reference import example_input, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("aarch64-linux-gnu-g++"),
                       reason="the aarch64 cross compiler is not installed (Debian: apt-get "
                       "install g++-aarch64-linux-gnu)"),
    pytest.mark.skipif(not shutil.which("qemu-aarch64"),
                       reason="qemu-aarch64 is not installed (Debian: apt-get install qemu-user)"),
]
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
EM_AARCH64 = 183


@pytest.fixture(scope="module")
def arm_runtime(shared_dir, bundles):
    from unified.mobile import build_runtime

    def make(folder):
        build_runtime(bundles["digits_cnn"], folder, target="aarch64", full=False, opt="speed")

    return once(shared_dir, "arm_runtime", make)


def test_the_build_is_an_aarch64_executable(arm_runtime):
    head = (arm_runtime / "unified-run").read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == EM_AARCH64


def test_verify_passes_under_qemu(arm_runtime, bundles):
    result = run(QEMU + [arm_runtime / "unified-run", bundles["digits_cnn"], "--verify",
                         "--iters", "3", "--warmup", "1"])
    assert result.returncode == 0, result.stderr
    assert "verify: ok (1 pairs" in result.stdout


def test_outputs_match_x86_within_1e_5(arm_runtime, host_runtime, bundles, tmp_path):
    x = example_input("digits_cnn") * np.float32(-0.75)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for name, cmd in [("arm", QEMU + [arm_runtime / "unified-run"]),
                      ("x86", [host_runtime / "unified-run"])]:
        (tmp_path / name).mkdir()
        result = run(cmd + [bundles["digits_cnn"], "--input", tmp_path / "x.npy",
                            "--save-outputs", tmp_path / name, "--iters", "1"])
        assert result.returncode == 0, result.stderr
        outs[name] = np.load(tmp_path / name / "output0.npy")
    np.testing.assert_allclose(outs["arm"], outs["x86"], rtol=1e-5, atol=1e-5)


def test_a_bundle_needing_another_kernel_is_refused_under_qemu(arm_runtime, bundles):
    result = run(QEMU + [arm_runtime / "unified-run", bundles["mlp"]])
    assert result.returncode == 2
    assert "the model needs kernel 'fused_linear'" in result.stderr
