"""Build script: maps tracer/, export/ and mobile/python/ into the one import root `unified`
and drives CMake (CMakeLists.txt) to build the C++ extension `unified._core`."""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


def _eigen_prefix() -> str:
    """cmeel-eigen puts Eigen's CMake package under <site-packages>/cmeel.prefix."""
    import cmeel  # installed with cmeel-eigen (a build requirement)

    for base in cmeel.__path__:
        prefix = Path(base).parent / "cmeel.prefix"
        if prefix.is_dir():
            return str(prefix)
    raise RuntimeError("cmeel-eigen is installed but its cmeel.prefix folder was not found")


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        import pybind11

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = ROOT / "build" / f"py{sys.version_info.major}{sys.version_info.minor}"
        build_dir.mkdir(parents=True, exist_ok=True)
        prefix_path = ";".join([_eigen_prefix(), pybind11.get_cmake_dir()])
        configure = [
            "cmake", str(ROOT), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix_path}",
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            "-DPYBIND11_FINDPYTHON=ON",
            # UNIFIED_NATIVE=0 builds for a generic x86-64/ARM target instead of this machine
            f"-DUNIFIED_NATIVE={'OFF' if os.environ.get('UNIFIED_NATIVE') == '0' else 'ON'}",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        subprocess.run(configure, cwd=build_dir, check=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "--build", ".", "-j", jobs], cwd=build_dir, check=True)


setup(
    packages=["unified"] + [f"unified.{p}" for p in find_packages("unified")]
    + [f"unified.tracer.{p}" for p in find_packages("tracer")]
    + [f"unified.export.{p}" for p in find_packages("export")]
    + ["unified.tracer", "unified.export", "unified.mobile"],
    package_data={"unified": ["datasets/data/*"]},
    package_dir={
        "unified": "unified",
        "unified.tracer": "tracer",
        "unified.export": "export",
        "unified.mobile": "mobile/python",
    },
    ext_modules=[CMakeExtension("unified._core")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
