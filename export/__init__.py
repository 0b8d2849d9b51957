"""unified.export: a traced inference function leaves for deployment, pre- and
post-processing included.

    export.to_onnx(infer, example, "model.onnx", dynamic_axes={"x": {0: "batch"}})
    export.save_bundle(infer, example, "model.ufb")    # our runtime's file (export/FORMAT.md)
    m = export.load_bundle("model.ufb")                  # runs in C++ through _core

Both read one frozen inference graph (freeze.py: weights become constants, BatchNorm folds
into the conv/linear before it). onnx.py lowers it through each op's `onnx` field; bundle.py
writes the lowered plan, weights and reference pairs for the C++ reader."""

from __future__ import annotations

from typing import Any

from unified.export.freeze import InferenceGraph, inference_graph

__all__ = ["InferenceGraph", "inference_graph", "load_bundle", "save_bundle", "to_onnx"]

_LAZY = {"to_onnx": "unified.export.onnx", "save_bundle": "unified.export.bundle",
         "load_bundle": "unified.export.bundle"}


def __getattr__(name: str) -> Any:  # onnx and flatbuffers load on first use only
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'unified.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
