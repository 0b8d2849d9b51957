#!/usr/bin/env bash
# Regenerates the committed FlatBuffers code of the bundle schema (export/bundle.fbs) with
# flatc 2.0.8 (the version of the vendored headers in third_party/flatbuffers):
#   core_cpp/include/unified/bundle_generated.h   (C++, read by core_cpp/bundle/bundle_reader.cpp)
#   export/_fbs/bundle_generated.py               (Python, written by export/bundle.py)
# Python is generated as one file (--gen-onefile): the per-table layout imports its siblings by
# the schema namespace (`from unified.fbs.Step import Step`), which is not an importable path.
# Usage: tools/gen_bundle_schema.sh [output root, default: the repository root]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
want="flatc version 2.0.8"
have=$(flatc --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "gen_bundle_schema.sh: need $want, found '${have:-no flatc}'" >&2
  exit 1
fi
mkdir -p "$out/core_cpp/include/unified" "$out/export/_fbs"
flatc --cpp -o "$out/core_cpp/include/unified/" "$root/export/bundle.fbs"
flatc --python --gen-onefile -o "$out/export/_fbs/" "$root/export/bundle.fbs"
