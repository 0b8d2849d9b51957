"""unified.mobile: builds the standalone C++ edge runtime (mobile/) for a bundle, with only the
kernels the bundle uses (`build_runtime`; the `unified build-runtime` command calls it).
build.py drives CMake; ops_used.py generates the trimmed registry fill."""

from unified.mobile.build import RuntimeBuild, build_runtime

__all__ = ["RuntimeBuild", "build_runtime"]
