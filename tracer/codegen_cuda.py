"""CUDA C++ for fused elementwise groups: a fused_elementwise node's register program (tracer/
passes/fuse.py build_program, the IR core_cpp/kernels/fused.cpp runs on the CPU) becomes one
float32 CUDA kernel, compiled with NVRTC to PTX and cached on disk by the sha256 of its source.
tracer/gpu_replay.py launches it through CuPy; tests compile every generated kernel with NVRTC
(and nvcc when present) on machines without a GPU.

Algorithm:
  1. Each input register is `direct` (a C-contiguous array of the output's shape: read in[i])
     or `scalar` (0-d: read in[0] once), the engine's two contiguous input kinds; the caller
     makes strided inputs contiguous first (the engine's third kind, gather, is not generated).
  2. A grid-stride loop over i in [0, n): each instruction becomes
     `rD = ew_<op>(rA[, rB], p0, p1);` with the ew_ device functions below (the formulas of
     core_cpp/include/unified/elementwise_math.h, in float32, no fast-math), params written as
     exact bit patterns; the last instruction's register is stored to out[i].
  3. The kernel is named unified_fused_<first 16 hex digits of sha256(program)> and its source
     is deterministic, so equal programs share one compiled kernel and one cache file.
Limits: float32 only; results agree with the CPU engine to float32 rounding of the math
library (CUDA's expf/logf/tanhf are not Eigen's packet functions), not bit for bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import struct
from pathlib import Path
from typing import Any, Sequence

# ew_<name>: the float32 math of each fusable op (unified/ops/elementwise.py fuse_params order)
PRELUDE = r"""
#define UF __device__ __forceinline__ float
UF ew_neg(float x, float, float) { return -x; }
UF ew_abs(float x, float, float) { return x < 0.0f ? -x : x; }
UF ew_exp(float x, float, float) { return expf(x); }
UF ew_log(float x, float, float) { return logf(x); }
UF ew_sqrt(float x, float, float) { return sqrtf(x); }
UF ew_rsqrt(float x, float, float) { return 1.0f / sqrtf(x); }
UF ew_sin(float x, float, float) { return sinf(x); }
UF ew_cos(float x, float, float) { return cosf(x); }
UF ew_tanh(float x, float, float) { return tanhf(x); }
UF ew_sigmoid(float x, float, float) { return 1.0f / (1.0f + expf(-x)); }
UF ew_relu(float x, float, float) { return x > 0.0f ? x : 0.0f; }
UF ew_silu(float x, float, float) { return x * (1.0f / (1.0f + expf(-x))); }
UF ew_leaky_relu(float x, float slope, float) { return x > 0.0f ? x : x * slope; }
UF ew_gelu(float x, float tanh_approx, float) {
  if (tanh_approx != 0.0f) {
    const float inner = 0.7978845608028654f * (x + 0.044715f * (x * x * x));
    return 0.5f * x * (1.0f + tanhf(inner));
  }
  return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}
UF ew_softplus(float x, float beta, float threshold) {
  const float bx = x * beta;
  return threshold < bx ? x : log1pf(expf(bx)) / beta;
}
UF ew_clamp(float x, float lo, float hi) {
  if (lo == lo && x < lo) x = lo;
  if (hi == hi && x > hi) x = hi;
  return x;
}
UF ew_add(float a, float b, float alpha, float) { return alpha == 1.0f ? a + b : a + alpha * b; }
UF ew_sub(float a, float b, float alpha, float) { return alpha == 1.0f ? a - b : a + (-alpha) * b; }
UF ew_mul(float a, float b, float, float) { return a * b; }
UF ew_div(float a, float b, float, float) { return a / b; }
UF ew_pow(float a, float b, float, float) { return powf(a, b); }
UF ew_maximum(float a, float b, float, float) {
  return (a != a) ? a : (b != b) ? b : (a > b ? a : b);
}
UF ew_minimum(float a, float b, float, float) {
  return (a != a) ? a : (b != b) ? b : (a < b ? a : b);
}
UF ew_relu_backward(float g, float x, float, float) { return x > 0.0f ? g : 0.0f; }
UF ew_leaky_relu_backward(float g, float x, float slope, float) { return x > 0.0f ? g : g * slope; }
UF ew_sigmoid_backward(float g, float y, float, float) { return g * y * (1.0f - y); }
UF ew_tanh_backward(float g, float y, float, float) { return g * (1.0f - y * y); }
UF ew_silu_backward(float g, float x, float, float) {
  const float s = 1.0f / (1.0f + expf(-x));
  return g * s * (1.0f + x * (1.0f - s));
}
UF ew_gelu_backward(float g, float x, float tanh_approx, float) {
  if (tanh_approx != 0.0f) {
    const float t = tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x));
    const float dinner = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
    return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner);
  }
  const float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
  const float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
  return g * (cdf + x * pdf);
}
UF ew_softplus_backward(float g, float x, float beta, float threshold) {
  return x * beta > threshold ? g : g * (1.0f / (1.0f + expf(-(x * beta))));
}
UF ew_clamp_backward(float g, float x, float lo, float hi) {
  const bool inside = !(lo == lo && x < lo) && !(hi == hi && x > hi);
  return inside ? g : 0.0f;
}
#undef UF
"""

UNARY = ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu",
         "silu", "leaky_relu", "gelu", "softplus", "clamp")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "relu_backward",
          "leaky_relu_backward", "sigmoid_backward", "tanh_backward", "silu_backward",
          "gelu_backward", "softplus_backward", "clamp_backward")
OPS = UNARY + BINARY  # must equal _core.fusable_ops() (tests/gpu/test_codegen_cuda.py)
THREADS = 256


class CodegenError(ValueError):
    """A program the generator cannot turn into CUDA (unknown op, bad registers); the message
    names the instruction."""


def _float(value: float) -> str:
    """An exact float32 literal: its bit pattern, with the value as a comment."""
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    shown = "nan" if math.isnan(value) else repr(float(struct.unpack("<f", struct.pack(
        "<I", bits))[0]))
    return f"__int_as_float(0x{bits:08x}u) /* {shown} */"


def kernel_name(program_key: str) -> str:
    return "unified_fused_" + hashlib.sha256(program_key.encode()).hexdigest()[:16]


def generate(attrs: dict, input_kinds: Sequence[str]) -> tuple[str, str]:
    """(kernel name, CUDA source) for a fused_elementwise program (its attrs: ops, regs, params,
    num_regs) whose inputs are `direct` or `scalar` (steps 1-3). The kernel's parameters are
    the inputs in order, then `float* out`, then `long long n`."""
    names = attrs["ops"].split()
    regs, params = tuple(attrs["regs"]), tuple(attrs["params"])
    num_inputs = len(input_kinds)
    if not names or len(regs) != 3 * len(names) or len(params) != 2 * len(names):
        raise CodegenError(f"fused program: {len(names)} ops need {3 * len(names)} regs and "
                           f"{2 * len(names)} params, got {len(regs)} and {len(params)}")
    body, defined = [], set(range(num_inputs))
    for k, kind in enumerate(input_kinds):
        if kind not in ("direct", "scalar"):
            raise CodegenError(f"fused program: input {k} kind {kind!r} is not direct or scalar")
        body.append(f"    const float r{k} = in{k}[{'i' if kind == 'direct' else '0'}];")
    declared = set(range(num_inputs))
    for k, name in enumerate(names):
        dst, a, b = regs[3 * k:3 * k + 3]
        arity = 1 if name in UNARY else 2 if name in BINARY else 0
        ok = arity and dst >= num_inputs and a in defined and (b in defined if arity == 2
                                                                else b == -1)
        if not ok:
            raise CodegenError(f"fused program: instruction {k} ({name} r{dst} <- r{a}, r{b}) "
                               f"has an unknown op or reads a register without a value")
        args = [f"r{a}"] + ([f"r{b}"] if arity == 2 else [])
        args += [_float(params[2 * k]), _float(params[2 * k + 1])]
        decl = "" if dst in declared else "float "
        declared.add(dst)
        defined.add(dst)
        body.append(f"    {decl}r{dst} = ew_{name}({', '.join(args)});")
    last = regs[3 * (len(names) - 1)]
    body.append(f"    out[i] = r{last};")
    key = repr((names, regs, params, tuple(input_kinds)))
    name = kernel_name(key)
    signature = ", ".join([f"const float* __restrict__ in{k}" for k in range(num_inputs)]
                          + ["float* __restrict__ out", "long long n"])
    source = "\n".join([
        f"// generated by unified tracer/codegen_cuda.py from: {attrs['ops']}",
        PRELUDE.strip(),
        f'extern "C" __global__ void {name}({signature}) {{',
        "  const long long stride = (long long)blockDim.x * gridDim.x;",
        "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;"
        " i += stride) {",
        *body,
        "  }",
        "}",
        "",
    ])
    return name, source


# ---- NVRTC (ctypes): CUDA C++ -> PTX without a GPU or driver --------------------------------
class NvrtcError(RuntimeError):
    """NVRTC is missing or rejected a generated kernel (the log is in the message)."""


def _nvrtc_library() -> Any:
    candidates = []
    try:
        import nvidia.cuda_nvrtc as wheel  # the nvidia-cuda-nvrtc-cu12 wheel

        for root in wheel.__path__:
            candidates += sorted(Path(root, "lib").glob("libnvrtc.so*"))
    except ImportError:
        pass
    candidates += ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so"]
    errors = []
    for path in candidates:
        if "alt" in str(path) or "builtins" in str(path):
            continue
        try:
            return ctypes.CDLL(str(path))
        except OSError as exc:
            errors.append(str(exc))
    raise NvrtcError("libnvrtc was not found: pip install nvidia-cuda-nvrtc-cu12 (in the dev "
                     f"and gpu extras); tried {[str(c) for c in candidates]}")


_LIB: Any = None


def nvrtc_available() -> bool:
    try:
        _lib()
    except NvrtcError:
        return False
    return True


def _lib() -> Any:
    global _LIB
    if _LIB is None:
        _LIB = _nvrtc_library()
        _LIB.nvrtcGetErrorString.restype = ctypes.c_char_p
    return _LIB


def _check(status: int, what: str) -> None:
    if status != 0:
        raise NvrtcError(f"{what} failed: {_lib().nvrtcGetErrorString(status).decode()}")


def compile_ptx(source: str, name: str = "kernel.cu", arch: str = "compute_80") -> str:
    """PTX of `source` for virtual architecture `arch`; NvrtcError with NVRTC's log."""
    lib = _lib()
    prog = ctypes.c_void_p()
    _check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None,
                                  None), "nvrtcCreateProgram")
    try:
        options = [f"--gpu-architecture={arch}".encode(), b"--std=c++17"]
        array = (ctypes.c_char_p * len(options))(*options)
        status = lib.nvrtcCompileProgram(prog, len(options), array)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if status != 0:
            raise NvrtcError(f"NVRTC could not compile {name} ({arch}):\n"
                             f"{log.value.decode(errors='replace')}")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        _check(lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "unified" / "cuda"


def cached_ptx(source: str, arch: str, cache_dir: Path | None = None) -> Path:
    """The PTX file of `source` for `arch`, compiled on the first request and kept in the cache
    directory under the sha256 of (arch, source); written atomically (rename)."""
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    digest = hashlib.sha256(f"{arch}\n{source}".encode()).hexdigest()
    path = directory / f"{digest}.ptx"
    if not path.exists():
        ptx = compile_ptx(source, f"{digest[:16]}.cu", arch)
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{id(ptx)}.tmp")
        partial.write_text(ptx)
        partial.replace(path)
    return path


class FusedKernel:
    """A generated kernel loaded into CuPy (RawModule from the cached PTX), launched over n
    elements with a grid-stride loop."""

    def __init__(self, xp: Any, attrs: dict, input_kinds: Sequence[str],
                 cache_dir: Path | None = None) -> None:
        self.name, self.source = generate(attrs, input_kinds)
        device = xp.cuda.Device()
        path = cached_ptx(self.source, f"compute_{device.compute_capability}", cache_dir)
        self.function = xp.RawModule(path=str(path)).get_function(self.name)
        self.sm_count = device.attributes["MultiProcessorCount"]

    def __call__(self, xp: Any, inputs: Sequence[Any], out: Any) -> None:
        n = int(out.size)
        if n == 0:
            return
        blocks = max(1, min(-(-n // THREADS), self.sm_count * 32))
        self.function((blocks,), (THREADS,), tuple(inputs) + (out, xp.int64(n)))


def input_kinds(shapes: Sequence[tuple]) -> list[str]:
    """`scalar` for 0-d inputs, `direct` for the rest (made contiguous by the caller)."""
    return ["scalar" if len(s) == 0 else "direct" for s in shapes]
