"""tracer/codegen_cuda.py: the CUDA source generated for fused-elementwise programs. Every
generated kernel is compiled with NVRTC (the nvidia-cuda-nvrtc-cu12 wheel: no GPU or driver
needed) and, when nvcc is on PATH, with `nvcc -ptx`; one program's text is checked line by
line. Programs: every fusable op alone (direct and 0-d inputs), the W4 chain, and the fused
groups of 40 random traced graphs after the pass pipeline."""

from __future__ import annotations

import random
import shutil
import subprocess

import numpy as np
import pytest
from unified.tracer import codegen_cuda as cg
from unified.tracer import pipeline
from unified.tracer.passes import fuse

from tests.tracer.graphs import random_graph
from tests.tracer.test_fuse import w4_graph
from unified import _core
from unified.ops.fused import fused_elementwise
from unified.ops.registry import lookup

needs_nvrtc = pytest.mark.skipif(not cg.nvrtc_available(),
                                 reason="libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")


def _single_op_programs() -> list[tuple[dict, list[str]]]:
    programs = []
    for name in cg.OPS:
        op = lookup(name)
        params = fuse.fuse_values(op, {})
        if name in cg.UNARY:
            programs.append(({"ops": name, "regs": (1, 0, -1), "params": params,
                              "num_regs": 2}, ["direct"]))
        else:
            for kinds in (["direct", "direct"], ["direct", "scalar"], ["scalar", "direct"]):
                programs.append(({"ops": name, "regs": (2, 0, 1), "params": params,
                                  "num_regs": 3}, kinds))
    return programs


def _traced_programs() -> list[tuple[dict, list[str]]]:
    graphs = [w4_graph()] + [random_graph(random.Random(seed)) for seed in range(40)]
    programs = []
    for g in graphs:
        for node in pipeline.optimize(g).nodes:
            if node.kind == "call" and node.op is fused_elementwise:
                kinds = cg.input_kinds([tuple(r.meta.shape) for r in node.inputs])
                programs.append((dict(node.attrs), kinds))
    return programs


def test_generator_knows_exactly_the_fusable_ops():
    assert set(cg.OPS) == set(_core.fusable_ops())
    assert len(cg.OPS) == len(set(cg.OPS))


def test_generated_text_of_a_program():
    attrs = {"ops": "mul add sigmoid", "regs": (2, 0, 1, 3, 2, 0, 2, 3, -1),
             "params": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0), "num_regs": 4}
    name, source = cg.generate(attrs, ["direct", "scalar"])
    zero, one = "__int_as_float(0x00000000u) /* 0.0 */", "__int_as_float(0x3f800000u) /* 1.0 */"
    body = source.split(f"void {name}(")[1].splitlines()
    assert body == [
        "const float* __restrict__ in0, const float* __restrict__ in1, "
        "float* __restrict__ out, long long n) {",
        "  const long long stride = (long long)blockDim.x * gridDim.x;",
        "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; "
        "i += stride) {",
        "    const float r0 = in0[i];",
        "    const float r1 = in1[0];",
        f"    float r2 = ew_mul(r0, r1, {zero}, {zero});",
        f"    float r3 = ew_add(r2, r0, {one}, {zero});",
        f"    r2 = ew_sigmoid(r3, {zero}, {zero});",
        "    out[i] = r2;",
        "  }",
        "}",
    ]
    assert name == cg.generate(attrs, ["direct", "scalar"])[0]  # deterministic
    assert name != cg.generate(attrs, ["direct", "direct"])[0]


def test_params_are_exact_bit_patterns_nan_included():
    attrs = {"ops": "clamp", "regs": (1, 0, -1), "params": (float("nan"), 0.1), "num_regs": 2}
    source = cg.generate(attrs, ["direct"])[1]
    bits = int(np.array(0.1, np.float32).view(np.uint32))
    assert f"__int_as_float(0x{bits:08x}u)" in source and "/* nan */" in source


@pytest.mark.parametrize("attrs, message", [
    ({"ops": "erfinv", "regs": (1, 0, -1), "params": (0.0, 0.0), "num_regs": 2}, "unknown op"),
    ({"ops": "add", "regs": (1, 0, 5), "params": (1.0, 0.0), "num_regs": 2}, "instruction 0"),
    ({"ops": "neg", "regs": (1, 0), "params": (0.0, 0.0), "num_regs": 2}, "need 3 regs"),
])
def test_bad_programs_are_clear_errors(attrs, message):
    with pytest.raises(cg.CodegenError, match=message):
        cg.generate(attrs, ["direct"])


def _one_unit(programs) -> str:
    """All kernels in one translation unit (the prelude once): one compiler call."""
    prelude = cg.PRELUDE.strip()
    kernels = [cg.generate(attrs, kinds)[1].split(prelude)[1] for attrs, kinds in programs]
    return prelude + "\n" + "\n".join(dict.fromkeys(kernels))


@needs_nvrtc
def test_every_generated_kernel_compiles_with_nvrtc():
    programs = _single_op_programs() + _traced_programs()
    assert len(_traced_programs()) >= 20  # the random graphs do produce fused groups
    ptx = cg.compile_ptx(_one_unit(programs), "all.cu", "compute_80")
    for attrs, kinds in programs:
        assert f".entry {cg.generate(attrs, kinds)[0]}(" in ptx


@needs_nvrtc
def test_a_full_generated_source_compiles_and_caches(tmp_path):
    attrs, kinds = _traced_programs()[0]
    source = cg.generate(attrs, kinds)[1]
    path = cg.cached_ptx(source, "compute_90", tmp_path)
    assert path.parent == tmp_path and ".target sm_90" in path.read_text()
    stamp = path.stat().st_mtime_ns
    assert cg.cached_ptx(source, "compute_90", tmp_path) == path  # a hit: not rewritten
    assert path.stat().st_mtime_ns == stamp


@needs_nvrtc
def test_nvrtc_errors_carry_the_compiler_log():
    with pytest.raises(cg.NvrtcError, match="undefined"):
        cg.compile_ptx('extern "C" __global__ void k() { undefined_fn(); }', "bad.cu")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_every_generated_kernel_compiles_with_nvcc(tmp_path):
    source = tmp_path / "all.cu"
    source.write_text(_one_unit(_single_op_programs() + _traced_programs()))
    result = subprocess.run(["nvcc", "-ptx", "-arch=compute_80", str(source), "-o",
                             str(tmp_path / "all.ptx")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr


# The generated source compiled as host C++ (a shim maps the CUDA names: one "thread" runs the
# whole grid-stride loop) and run through ctypes: the kernels' arithmetic checked against the
# CPU fused engine on machines without a GPU.
HOST_SHIM = r"""
#include <math.h>
#include <string.h>
#define __device__
#define __forceinline__ inline
#define __global__
#define __restrict__
struct UnifiedDim { long long x; };
static const UnifiedDim blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
static inline float __int_as_float(unsigned int bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on PATH")
def test_generated_kernels_compute_like_the_cpu_fused_engine(tmp_path):
    import ctypes

    import unified as U
    from unified.dispatch import apply

    programs = _single_op_programs() + _traced_programs()
    source = tmp_path / "host.cpp"
    source.write_text(HOST_SHIM + _one_unit(programs))
    library = tmp_path / "host.so"
    result = subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lib = ctypes.CDLL(str(library))
    rng = np.random.default_rng(0)
    for attrs, kinds in programs:
        n = 257
        inputs = [np.asarray(rng.uniform(0.25, 1.75, () if k == "scalar" else (n,)), np.float32)
                  for k in kinds]
        if all(k == "scalar" for k in kinds):
            continue
        want = apply(fused_elementwise, tuple(U.tensor(a) for a in inputs), attrs).numpy()
        out = np.empty(n, np.float32)
        pointers = [a.ctypes.data_as(ctypes.c_void_p) for a in inputs + [out]]
        getattr(lib, cg.generate(attrs, kinds)[0])(*pointers, ctypes.c_longlong(n))
        np.testing.assert_allclose(out, np.broadcast_to(want, (n,)), rtol=3e-6, atol=1e-6,
                                   err_msg=f"{attrs['ops']} {kinds}")
