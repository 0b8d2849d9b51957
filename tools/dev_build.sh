#!/usr/bin/env bash
# Incremental developer rebuild of unified/_core*.so in place (what `pip install -e .` builds
# once). Serialised with flock so parallel callers never run two builds in one folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/dev"
exec 9>"$root/build/.dev_build.lock" 2>/dev/null || { mkdir -p "$root/build"; exec 9>"$root/build/.dev_build.lock"; }
flock 9
if [ ! -f "$build/build.ninja" ]; then
  prefix=$(python -c "import cmeel, pathlib; print(pathlib.Path(list(cmeel.__path__)[0]).parent / 'cmeel.prefix')")
  pyb=$(python -c "import pybind11; print(pybind11.get_cmake_dir())")
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$prefix;$pyb" "-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$root/unified" \
    -DPYBIND11_FINDPYTHON=ON "-DPython_EXECUTABLE=$(command -v python)" >/dev/null
fi
cmake --build "$build" -j 2
