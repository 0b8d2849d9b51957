"""ONNX export: `to_onnx(fn, example, path)` writes an ONNX model of a traced inference function
that onnxruntime runs with eager's numbers. Every op lowers through its own `onnx` field
(unified/ops/<family>.py: an ONNX op name, or a function writing nodes through the builder in
export/onnx_builder.py); this file has no per-op code.

Steps:
 1. Freeze: export/freeze.py records fn on the example into an inference graph (weights are
    constants, BatchNorm folded, no state writes, no random ops).
 2. Interface: graph inputs and outputs get the user's names; dims listed in `dynamic_axes`
    become symbols.
 3. Walk the graph in order: consts become initializers; each call node runs its op's lowering
    and gets its output dims (declared by the lowering, or found by re-running the op's shape
    inference at probe sizes: a dim that moves with a symbol is dynamic).
 4. Assemble the model (opset `opset`, 13 or newer), run onnx.checker (full_check) and strict
    shape inference, and write it atomically; weights go to `<file>.data` beside it when
    external_data=True, or when they pass 1.5 GB (protobuf's 2 GB limit).

Limits: one recording, so sizes that Python computed from a dynamic dim and passed as an
attribute are baked unless the op's lowering can tell them apart (reshape, expand and slice
keep a dim that equals the input's); an op whose attributes contradict a dynamic dim raises
ExportError naming the op and line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from unified._atomic import _fsync_folder, atomic_write
from unified.errors import ExportError, ShapeError
from unified.export.freeze import InferenceGraph, inference_graph
from unified.export.onnx_builder import Builder, Dim
from unified.ops.registry import TensorMeta
from unified.tracer.graph import Node, Ref

MIN_OPSET = 13
EXTERNAL_DATA_BYTES = int(1.5 * 2**30)


def to_onnx(fn: Callable[..., Any], example: Any, path: str | os.PathLike, *,
            input_names: Sequence[str] | None = None,
            output_names: Sequence[str] | None = None,
            dynamic_axes: Mapping[str, Any] | None = None, opset: int = 17,
            external_data: bool | None = None, dynamic_batch: bool = False) -> onnx.ModelProto:
    """Write an ONNX model of `fn` (a function, Module or U.trace object) recorded on
    `example` (a tuple of arguments) to `path`; returns the model.

    dynamic_axes: {input_or_output_name: {axis: "symbol"}} (or a list of axes) makes those
    dims variable; dynamic_batch=True makes dim 0 of every input the symbol "N" instead (as
    save_bundle's dynamic_batch). external_data: True keeps the weights in `<path>.data`;
    None does so only for models over 1.5 GB. Raises ExportError naming the op and line of
    anything that cannot be exported.

    >>> import unified as U
    >>> from unified.export.onnx import to_onnx
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "double.onnx")
    >>> model = to_onnx(lambda x: x * 2.0, (U.ones(2, 3),), path,
    ...                 dynamic_axes={"x": {0: "batch"}})
    >>> [n.op_type for n in model.graph.node]
    ['Mul', 'Identity']
    """
    _check_opset(opset)
    ig = inference_graph(fn, example, output_names=output_names)
    if dynamic_batch:
        if dynamic_axes:
            raise ValueError("to_onnx: give dynamic_batch or dynamic_axes, not both")
        dynamic_axes = {name: {0: "N"} for name in (input_names or ig.input_names)}
    model = build_model(ig, opset=opset, dynamic_axes=dynamic_axes, input_names=input_names)
    nbytes = sum(t.ByteSize() for t in model.graph.initializer)
    external = nbytes > EXTERNAL_DATA_BYTES if external_data is None else bool(external_data)
    if nbytes > EXTERNAL_DATA_BYTES and external_data is False:
        raise ExportError(f"to_onnx: the weights take {nbytes} bytes, over the 1.5 GB one ONNX "
                          "file holds safely (protobuf's limit is 2 GB); pass external_data=True "
                          "or None")
    _save(model, Path(path), external, check_in_memory=nbytes <= EXTERNAL_DATA_BYTES)
    return model


def build_model(ig: InferenceGraph, *, opset: int = 17,
                dynamic_axes: Mapping[str, Any] | None = None,
                input_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """Steps 2-3 on a frozen inference graph: the ONNX model (not checked, not saved)."""
    _check_opset(opset)
    graph = ig.graph
    inputs = graph.inputs()
    names_in = list(ig.input_names if input_names is None else input_names)
    if len(names_in) != len(inputs) or len(set(names_in)) != len(names_in):
        raise ValueError(f"to_onnx: input_names {names_in} must be {len(inputs)} distinct names, "
                         f"one per tensor argument ({ig.input_names})")
    axes = _parse_dynamic_axes(dynamic_axes, names_in, list(ig.output_names))
    b = Builder(opset)
    for name in names_in + list(ig.output_names):
        b.reserve(name)
    values: dict[Ref, str] = {}
    dims: dict[Ref, tuple[Dim, ...]] = {}
    graph_inputs = []
    for node, name in zip(inputs, names_in):
        shape = _input_dims(b, name, node.metas[0].shape, axes.get(name, {}))
        values[node.ref()], dims[node.ref()] = name, shape
        graph_inputs.append(_value_info(name, node.metas[0], list(shape)))
    used = _used_outputs(graph)
    for node in graph.nodes:
        if node.kind == "const":
            values[node.ref()] = b.initializer(node.value, _const_hint(node))
            dims[node.ref()] = tuple(node.value.shape)
        elif node.kind == "call":
            _lower(b, node, values, dims, used.get(node.id, ()))
        elif node.kind != "input":
            raise ExportError(f"to_onnx: graph {graph.name} has a {node.kind} node "
                              f"%{node.name}; export needs a frozen inference graph")
    graph_outputs = []
    for ref, name in zip(graph.outputs, ig.output_names):
        b.nodes.append(helper.make_node("Identity", [values[ref]], [name], name=f"out_{name}"))
        shape = _output_dims(name, dims[ref], axes.get(name, {}))
        graph_outputs.append(_value_info(name, ref.meta, shape))
    read = {name for node in b.nodes for name in node.input}
    onnx_graph = helper.make_graph(b.nodes, ig.name, graph_inputs, graph_outputs,
                                   initializer=[t for t in b.initializers if t.name in read])
    opsets = [helper.make_opsetid("", opset)]
    import unified

    return helper.make_model(onnx_graph, opset_imports=opsets, producer_name="unified",
                             producer_version=unified.__version__,
                             ir_version=helper.find_min_ir_version_for(opsets))


# ---- step 3: one call node -------------------------------------------------------------------
def _lower(b: Builder, node: Node, values: dict, dims: dict, used: tuple[bool, ...]) -> None:
    op = node.op
    b.where = f"op {op.name} (at {_at(node)})"
    if op.onnx is None:
        b.fail(op.onnx_unsupported or "its OpDef has no onnx lowering")
    in_names = [values[r] for r in node.inputs]
    b.in_dims = [dims[r] for r in node.inputs]
    b.out_dims = None
    b.used_outputs = used or (False,) * op.num_outputs
    attrs = {**op.attrs, **node.attrs}
    if isinstance(op.onnx, str):
        outs = b.op(op.onnx, in_names, op.num_outputs)
    else:
        try:
            outs = op.onnx(b, in_names, attrs, [r.meta for r in node.inputs], list(node.metas))
        except ExportError:
            raise
        except Exception as exc:
            exc.add_note(f"while lowering {b.where} to ONNX")
            raise
    if len(outs) != len(node.metas):
        raise RuntimeError(f"ONNX lowering of {op.name} returned {len(outs)} outputs, the op "
                           f"has {len(node.metas)}")
    out_dims = b.out_dims if b.out_dims is not None else _probe(b, node, attrs)
    for k, (name, shape) in enumerate(zip(outs, out_dims)):
        values[node.ref(k)] = name
        dims[node.ref(k)] = tuple(shape)
        if name is None and b.used_outputs[k]:
            b.fail(f"output {k} is used but has no ONNX counterpart")


def _probe(b: Builder, node: Node, attrs: dict) -> list[tuple[Dim, ...]]:
    """Output dims of a node from its op's shape inference at the probe sizes."""
    in_dims = b.in_dims
    if not any(isinstance(d, str) for shape in in_dims for d in shape):
        return [tuple(m.shape) for m in node.metas]
    metas = [TensorMeta(b.probe_shape(d), r.meta.dtype) for d, r in zip(in_dims, node.inputs)]
    try:
        result = node.op.infer(*metas, **attrs)
    except (ShapeError, ValueError, TypeError) as exc:
        dynamic = sorted({d for shape in in_dims for d in shape if isinstance(d, str)})
        b.fail(f"its attributes fix a size that the dynamic axes {dynamic} make variable "
               f"(at other sizes: {exc}); export with that size fixed")
    probes = result if node.op.num_outputs > 1 else (result,)
    return [tuple(b.dim_for(e, p) for e, p in zip(m.shape, q.shape))
            for m, q in zip(node.metas, probes)]


def _used_outputs(graph: Any) -> dict[int, tuple[bool, ...]]:
    read: dict[int, set[int]] = {}
    for node in graph.nodes:
        for ref in node.inputs:
            read.setdefault(ref.node.id, set()).add(ref.index)
    for ref in graph.outputs:
        read.setdefault(ref.node.id, set()).add(ref.index)
    return {node.id: tuple(k in read.get(node.id, ()) for k in range(len(node.metas)))
            for node in graph.nodes if node.kind == "call"}


def _at(node: Node) -> str:
    src = node.source
    if src is None:
        return "an unknown line"
    return f"{src.file.rsplit('/', 1)[-1]}:{src.line} in {src.function}"


def _const_hint(node: Node) -> str:
    return node.name if not node.name.isdigit() else f"const{node.name}"


# ---- step 2: interface -----------------------------------------------------------------------
def _check_opset(opset: int) -> None:
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int from {MIN_OPSET} to {newest} (the "
                         f"installed onnx's newest), got {opset!r}")


def _parse_dynamic_axes(dynamic_axes: Mapping[str, Any] | None, inputs: list[str],
                        outputs: list[str]) -> dict[str, dict[int, str]]:
    parsed: dict[str, dict[int, str]] = {}
    for name, spec in (dynamic_axes or {}).items():
        if name not in inputs and name not in outputs:
            raise ValueError(f"to_onnx: dynamic_axes names '{name}', which is neither an input "
                             f"({inputs}) nor an output ({outputs})")
        if isinstance(spec, Mapping):
            parsed[name] = {int(a): str(s) for a, s in spec.items()}
        else:
            parsed[name] = {int(a): f"{name}_dim{int(a)}" for a in spec}
    return parsed


def _input_dims(b: Builder, name: str, shape: tuple[int, ...],
                wanted: dict[int, str]) -> tuple[Dim, ...]:
    """An input's dims with the symbols dynamic_axes gives it (one symbol, one example size)."""
    dims: list[Dim] = list(shape)
    for axis, symbol in wanted.items():
        axis = _axis(axis, len(dims), name)
        known = b.symbols.get(symbol)
        if known is not None and known[0] != dims[axis]:
            raise ValueError(f"to_onnx: dynamic axis '{symbol}' has size {known[0]} in one "
                             f"input and {dims[axis]} in '{name}' (dim {axis})")
        dims[axis] = symbol if known is not None else b.add_symbol(symbol, dims[axis])
    return tuple(dims)


def _axis(axis: int, ndim: int, name: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"to_onnx: dynamic axis {axis} of '{name}' is out of range for its "
                         f"{ndim} dimensions")
    return axis % ndim


def _output_dims(name: str, shape: tuple[Dim, ...], wanted: dict[int, str]) -> list[Dim]:
    """The output's dims with the symbols dynamic_axes gives it; ExportError where it asks for
    a dim that came out static."""
    out = list(shape)
    for axis, symbol in wanted.items():
        axis = _axis(axis, len(out), name)
        if not isinstance(out[axis], str):
            raise ExportError(f"to_onnx: dynamic_axes makes dim {axis} of output '{name}' "
                              f"dynamic ('{symbol}'), but it does not depend on a dynamic input "
                              f"dim (it is always {out[axis]})")
        out[axis] = symbol
    return out


def _value_info(name: str, meta: TensorMeta, shape: list[Dim]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, Builder.dtype(meta.dtype), list(shape))


# ---- step 4: check and save ------------------------------------------------------------------
def check(model_or_path: onnx.ModelProto | str | os.PathLike) -> None:
    """onnx.checker with full_check, then strict shape inference (raises on any problem)."""
    if isinstance(model_or_path, onnx.ModelProto):
        onnx.checker.check_model(model_or_path, full_check=True)
        onnx.shape_inference.infer_shapes(model_or_path, check_type=True, strict_mode=True)
        return
    path = os.fspath(model_or_path)
    onnx.checker.check_model(path, full_check=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path) or ".") as tmp:
        onnx.shape_inference.infer_shapes_path(path, os.path.join(tmp, "inferred.onnx"),
                                               check_type=True, strict_mode=True)


def _save(model: onnx.ModelProto, path: Path, external: bool, check_in_memory: bool) -> None:
    """Write atomically: one file via _atomic.atomic_write, or (external data) both files
    into a temporary folder beside the target, then renamed into place, data first."""
    if check_in_memory:
        check(model)
    if not external:
        data = model.SerializeToString()
        with atomic_write(path) as f:
            f.write(data)
        return
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not "
                                "exist")
    location = f"{path.name}.data"
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{path.name}.") as tmp:
        staged = Path(tmp) / path.name
        onnx.save_model(model, os.fspath(staged), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=location, size_threshold=1024)
        if not check_in_memory:
            check(staged)
        for file in (Path(tmp) / location, staged):
            with open(file, "rb") as f:
                os.fsync(f.fileno())
        os.replace(Path(tmp) / location, folder / location)
        os.replace(staged, path)
    _fsync_folder(folder)


__all__ = ["build_model", "check", "to_onnx"]
