"""Builds the standalone edge runtime (mobile/CMakeLists.txt) for a bundle: `build_runtime`.

    rt = build_runtime("digits.ufb", "rt/")          # trimmed: only the bundle's kernels
    print(rt.summary())                              # sizes of the trimmed and full runtimes
    subprocess.run([rt.unified_run, "digits.ufb", "--verify"])

Steps:
 1. Read the bundle's kernel list (export.load_bundle checks the whole file first).
 2. Trimmed: write <out>/ops_used.cpp (ops_used.py) registering exactly those kernels.
 3. Configure mobile/ with CMake + Ninja into <out>/build (kept: later builds are incremental)
    and build: the library, unified-run, the C API test program; with `full`, the full runtime
    from the same objects; with `sanitize`, ASan + UBSan (clang when installed, which also
    builds the libFuzzer target fuzz_bundle).
 4. Copy the products to <out> and measure them.
Limits: needs a source checkout (the C++ sources are not installed), CMake >= 3.20, Ninja and
Eigen (the cmeel-eigen package, or a system Eigen 3.4); aarch64 needs Debian's
g++-aarch64-linux-gnu. The CMake project itself needs no Python (see mobile/README.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from unified.mobile import ops_used

MOBILE_DIR = ops_used.ROOT / "mobile"
TARGETS = ("host", "aarch64")
OPTS = ("size", "speed")


@dataclass
class RuntimeBuild:
    """What build_runtime produced: paths (absolute) and stripped sizes in bytes."""

    out_dir: Path
    target: str
    trimmed: bool
    kernels: list[str]
    unified_run: Path
    static_lib: Path
    shared_lib: Path
    header: Path
    c_api_test: Path
    ops_used: Path | None = None
    unified_run_full: Path | None = None
    c_api_test_full: Path | None = None
    fuzz_bundle: Path | None = None
    sizes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        kind = "trimmed" if self.trimmed else "full"
        names = ", ".join(self.kernels) if self.trimmed else "every kernel but the collectives"
        lines = [f"runtime ({kind}, {self.target}) in {self.out_dir}",
                 f"  kernels ({len(self.kernels)}): {names}"]
        for name, nbytes in self.sizes.items():
            lines.append(f"  {name:28s} {nbytes:>10,d} bytes ({nbytes / 1024:.1f} KiB)")
        return "\n".join(lines)


def build_runtime(bundle_path: str | os.PathLike | None, out_dir: str | os.PathLike, *,
                  trimmed: bool = True, target: str = "host", sanitize: bool = False,
                  full: bool = True, opt: str = "size", native: bool = False,
                  threads: bool = True, compact_gemm: bool = False,
                  jobs: int | None = None) -> RuntimeBuild:
    """Build the runtime for `bundle_path` into `out_dir` (steps above) and return its paths
    and sizes. trimmed=False (bundle_path may then be None) builds every kernel. full: with
    trimmed, also build the full runtime to compare sizes. opt: "size" (-Os, LTO, one conv tile
    shape: the same bits as unified._core) or "speed" (-O3 like unified._core: the same kernels
    give the same time and the same bits). compact_gemm (size builds only): a plain-loop matrix
    product instead of Eigen's GEMM, about 39 KB smaller (the digits CNN's trimmed runtime goes
    under 150 KB), whose sums may differ from unified._core's in the last bits. native:
    -march=native (host only). threads: kernel threads (OpenMP; off saves about 12 KB). jobs:
    parallel compile jobs."""
    if target not in TARGETS:
        raise ValueError(f"build_runtime: target must be one of {TARGETS}, got {target!r}")
    if opt not in OPTS:
        raise ValueError(f"build_runtime: opt must be one of {OPTS}, got {opt!r}")
    if compact_gemm and opt != "size":
        raise ValueError(f"build_runtime: compact_gemm=True is a size-build option; it needs "
                         f"opt='size', got opt={opt!r}")
    if native and target != "host":
        raise ValueError("build_runtime: native=True builds for this machine; it needs "
                         "target='host'")
    if trimmed and bundle_path is None:
        raise ValueError("build_runtime: a trimmed runtime needs a bundle (or trimmed=False)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    kernels = _bundle_kernels(bundle_path) if bundle_path is not None else []
    ops_file = None
    if trimmed:
        ops_file = out / "ops_used.cpp"
        ops_used.write_if_changed(ops_file, ops_used.generate(kernels, str(bundle_path)))
    options = {
        "URT_OPS_SOURCE": str(ops_file) if ops_file else "",
        "URT_BUILD_FULL": "ON" if (trimmed and full) else "OFF",
        "URT_OPT": opt, "URT_NATIVE": _on(native), "URT_OPENMP": _on(threads),
        "URT_SANITIZE": _on(sanitize), "URT_FUZZ": "OFF", "URT_COMPACT_GEMM": _on(compact_gemm),
    }
    build_dir = out / "build"
    env = dict(os.environ)
    if sanitize and target == "host" and _clang_has_libfuzzer():
        env.update(CC="clang", CXX="clang++")  # clang also gives libFuzzer
        options["URT_FUZZ"] = "ON"
    _configure(build_dir, options, target, env)
    _run([_cmake(), "--build", str(build_dir), "-j", str(jobs or os.cpu_count() or 2)], env)
    return _collect(out, build_dir, kernels or _full_kernel_names(), trimmed, target,
                    ops_file, trimmed and full, options["URT_FUZZ"] == "ON")


# ---- steps ---------------------------------------------------------------------------------
def _bundle_kernels(path: str | os.PathLike) -> list[str]:
    from unified.export.bundle import load_bundle

    return load_bundle(path).kernels


def _full_kernel_names() -> list[str]:
    return sorted(ops_used.available_kernels())


def _configure(build_dir: Path, options: dict[str, str], target: str, env: dict) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    cmd = [_cmake(), "-S", str(MOBILE_DIR), "-B", str(build_dir), "-G", "Ninja",
           "-DCMAKE_BUILD_TYPE=Release"]
    ninja = shutil.which("ninja")
    if ninja:
        cmd.append(f"-DCMAKE_MAKE_PROGRAM={ninja}")
    prefix = _eigen_prefix()
    if prefix:
        cmd.append(f"-DCMAKE_PREFIX_PATH={prefix}")
    if target == "aarch64":
        if not shutil.which("aarch64-linux-gnu-g++"):
            raise RuntimeError("build_runtime(target='aarch64') needs the cross compiler "
                               "aarch64-linux-gnu-g++ (Debian: apt-get install "
                               "g++-aarch64-linux-gnu)")
        cmd.append(f"-DCMAKE_TOOLCHAIN_FILE={MOBILE_DIR / 'cmake' / 'aarch64.cmake'}")
    cmd += [f"-D{k}={v}" for k, v in options.items()]
    _run(cmd, env)


def _collect(out: Path, build_dir: Path, kernels: list[str], trimmed: bool, target: str,
             ops_file: Path | None, with_full: bool, with_fuzz: bool) -> RuntimeBuild:
    (out / "include").mkdir(exist_ok=True)
    (out / "lib").mkdir(exist_ok=True)
    header = out / "include" / "unified_rt.h"
    shutil.copy2(MOBILE_DIR / "include" / "unified_rt.h", header)
    copy = {"unified-run": out / "unified-run", "libunified_rt.a": out / "lib" / "libunified_rt.a",
            "libunified_rt.so": out / "lib" / "libunified_rt.so", "c_api_test": out / "c_api_test"}
    if with_full:
        copy["unified-run_full"] = out / "unified-run-full"
        copy["c_api_test_full"] = out / "c_api_test-full"
        copy["libunified_rt_full.so"] = out / "lib" / "libunified_rt_full.so"
    if with_fuzz:
        copy["fuzz_bundle"] = out / "fuzz_bundle"
    for name, dest in copy.items():
        src = build_dir / name
        if not src.is_file():
            raise RuntimeError(f"build_runtime: the build did not produce {src}")
        shutil.copy2(src, dest)
    kind = "trimmed" if trimmed else "full"
    sizes = {f"unified-run ({kind})": (out / "unified-run").stat().st_size}
    if with_full:
        sizes["unified-run (full)"] = (out / "unified-run-full").stat().st_size
    sizes[f"libunified_rt.so ({kind})"] = (out / "lib" / "libunified_rt.so").stat().st_size
    return RuntimeBuild(out_dir=out, target=target, trimmed=trimmed, kernels=sorted(kernels),
                        unified_run=out / "unified-run", static_lib=copy["libunified_rt.a"],
                        shared_lib=copy["libunified_rt.so"], header=header,
                        c_api_test=out / "c_api_test", ops_used=ops_file,
                        unified_run_full=copy.get("unified-run_full"),
                        c_api_test_full=copy.get("c_api_test_full"),
                        fuzz_bundle=copy.get("fuzz_bundle"), sizes=sizes)


# ---- tools ---------------------------------------------------------------------------------
def _on(flag: bool) -> str:
    return "ON" if flag else "OFF"


def _cmake() -> str:
    found = shutil.which("cmake")
    if found:
        return found
    try:
        import cmake  # the PyPI package (a dev dependency)

        return str(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    except ImportError:
        raise RuntimeError("build_runtime needs CMake >= 3.20 (pip install cmake ninja)")


def _eigen_prefix() -> str | None:
    """cmeel-eigen keeps Eigen's CMake package in <site-packages>/cmeel.prefix (as setup.py
    finds it); None lets CMake look for a system Eigen. The package is located, not imported
    (importing cmeel leaves a temporary folder behind)."""
    spec = importlib.util.find_spec("cmeel")
    for base in (spec.submodule_search_locations or []) if spec else []:
        prefix = Path(base).parent / "cmeel.prefix"
        if prefix.is_dir():
            return str(prefix)
    return None


def _clang_has_libfuzzer() -> bool:
    """clang with its sanitizer and libFuzzer runtimes (Debian: clang, libclang-rt-14-dev)."""
    if not (shutil.which("clang") and shutil.which("clang++")):
        return False
    probe = subprocess.run(
        ["clang++", "-fsanitize=fuzzer,address,undefined", "-x", "c++", "-", "-o", os.devnull],
        input="#include <cstdint>\n#include <cstddef>\nextern \"C\" int "
              "LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n",
        capture_output=True, text=True)
    return probe.returncode == 0


def _run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"build_runtime: {' '.join(cmd[:3])} ... failed "
                           f"(exit {proc.returncode}):\n{tail}")
