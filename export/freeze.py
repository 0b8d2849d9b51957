"""The inference graph every exporter reads (export/onnx.py, export/bundle.py): one recording
of a traced inference function on an example, with its weights frozen into constants.

    ig = inference_graph(infer, (U.zeros(1, 1, 32, 32, dtype=U.uint8),))
    ig.graph            # inputs named like the arguments, consts, calls; outputs = flat results
    ig.build(outputs)   # the function's result structure (tuple, dict, ...) from flat outputs

Steps:
 1. Record fn(*example) once, eagerly, under no_grad (tracer/record.py), with the parameter
    names a trace would print (so weights keep names like `model.0.weight`).
 2. Refuse what a deployed graph cannot do, naming the reason and the user's line: a recording
    that gave up, a value read back into Python (a data-dependent branch), a write to state
    (BatchNorm or anything else updated in place: usually `model.eval()` was forgotten), a
    random op (dropout in training mode), a result that is not a tensor (or a structure of
    tensors), an in-place write to an argument.
 3. Freeze: every param node becomes a const node holding a private copy of its value, at the
    same place and with the same name, so the graph no longer depends on the live model.
 4. Clean up with the tracer's passes: dead code, common subexpressions, constant folding
    (weights-only subgraphs such as a transposed weight are computed once here), then
    inference-only folding (BatchNorm into the conv/linear before it, tracer/passes/fold_bn.py),
    then dead code again. Fusion and memory planning are left to each
    exporter: ONNX wants the plain ops, the bundle runs tracer/pipeline.py's full pipeline.

Limits: one recording, so shapes are the example's; which dims may vary is the exporter's
`dynamic_axes` argument. Arguments that are not tensors are baked in as constants, as in a
trace."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unified.errors import ExportError
from unified.grad_mode import no_grad
from unified.ops.registry import Trait
from unified.tensor import Tensor
from unified.tracer import record
from unified.tracer.graph import Graph
from unified.tracer.passes import cse, dce, fold, fold_bn
from unified.tracer.trace import Traced, trace


@dataclasses.dataclass
class InferenceGraph:
    """A frozen, cleaned-up inference graph and its interface (see the module doc)."""

    graph: Graph
    input_names: list[str]
    output_names: list[str]
    example_inputs: list[np.ndarray]
    example_outputs: list[np.ndarray]
    out_spec: Any
    name: str

    def build(self, outputs: Sequence[Any]) -> Any:
        """The function's result structure with flat output k replaced by outputs[k]."""
        return _build(self.out_spec, list(outputs))


def inference_graph(fn: Callable[..., Any] | Traced, example: Sequence[Any] | Tensor, *,
                    output_names: Sequence[str] | None = None) -> InferenceGraph:
    """Record `fn` (a function, a Module or a U.trace object) on `example` (a tuple of
    arguments, or one tensor) and return its frozen inference graph."""
    traced = fn if isinstance(fn, Traced) else trace(fn)
    args = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    _, flat, names, _ = traced._key(args, {})
    with no_grad():
        result, rec = record.record(traced.fn, args, {}, flat, names, traced._state_names(),
                                    lambda _source: None, traced.__name__)
    where = f"export({traced.__name__})"
    _refuse(rec, where)
    out_spec, n_out = _flat_spec(rec.out_spec, where)
    graph = rec.graph.copy()
    graph.name = traced.__name__
    graph.set_outputs(graph.outputs[:n_out])
    _freeze(graph, rec.arrays)
    for p in (dce, cse, fold, dce):
        graph = p.run(graph)
    graph = dce.run(fold_bn.run(graph))
    graph.check()
    inputs = graph.inputs()  # input nodes are named after their argument (record.py)
    input_names = [n.name for n in inputs]
    by_name = dict(zip(names, flat))
    if output_names is None:
        output_names = [f"output{k}" for k in range(n_out)]
    elif len(output_names) != n_out or len(set(output_names)) != n_out:
        raise ExportError(f"{where}: output_names {list(output_names)} must be {n_out} distinct "
                          f"names, one per returned tensor")
    clash = set(input_names) & set(output_names)
    if clash:
        raise ExportError(f"{where}: names {sorted(clash)} are used for an input and an output")
    flat_out = _flat_tensors(result)
    return InferenceGraph(graph, input_names, list(output_names),
                          [np.array(by_name[n]._data, order="C", copy=True) for n in input_names],
                          [np.array(t._data, copy=True) for t in flat_out], out_spec,
                          traced.__name__)


# ---- steps 2-3 -------------------------------------------------------------------------------
def _refuse(rec: record.Recording, where: str) -> None:
    if rec.untraceable is not None:
        raise ExportError(f"{where}: the function cannot be recorded: {rec.untraceable}")
    if rec.guards:
        g = rec.guards[0]
        at = f" at {g.source}" if g.source else ""
        raise ExportError(f"{where}: a tensor value is read into Python ({g.kind} of {g.ref}"
                          f"{at}); "
                          "an exported graph cannot branch on data. Compute both sides with "
                          "tensor ops (e.g. U.where) instead")
    if rec.graph.writes:
        param, ref = rec.graph.writes[0]
        raise ExportError(f"{where}: the function updates state in place ({param.name} by "
                          f"{_op_at(ref.node)}); an inference graph must not. For BatchNorm "
                          "running statistics call model.eval() before exporting")
    if rec.input_writes:
        raise ExportError(f"{where}: the function writes into one of its arguments in place; "
                          "return the new value instead")
    for node in rec.graph.calls():
        if Trait.RANDOM in node.op.traits:
            raise ExportError(f"{where}: random op {_op_at(node)} in the graph; an exported "
                              "graph must be deterministic (call model.eval() to turn dropout "
                              "off)")


def _op_at(node: Any) -> str:
    name = node.op.name if node.op is not None else node.kind
    return f"{name} at {node.source}" if node.source is not None else name


def _flat_spec(spec: Any, where: str) -> tuple[Any, int]:
    """Check every leaf of the result is a computed tensor; returns (spec, number of them)."""
    count = 0

    def walk(s: Any) -> None:
        nonlocal count
        kind = s[0]
        if kind == "out":
            count += 1
        elif kind in ("arg", "state"):
            raise ExportError(f"{where}: the function returns an argument or a parameter "
                              "unchanged; return a computed tensor (e.g. x.clone())")
        elif kind == "py":
            raise ExportError(f"{where}: the function returns a Python value {s[1]!r}; every "
                              "result of an exported function must be a tensor")
        elif kind is dict or kind == "namedtuple":
            for sub in s[2]:
                walk(sub)
        else:
            for sub in s[1]:
                walk(sub)

    walk(spec)
    if count == 0:
        raise ExportError(f"{where}: the function returns no tensor")
    return spec, count


def _freeze(graph: Graph, arrays: list[np.ndarray]) -> None:
    """Step 3: param node k becomes a const holding a copy of arrays[k]."""
    for param, array in zip(graph.params(), arrays):
        const = graph.add_const(np.array(array, copy=True), name=param.name, before=param)
        graph.replace_uses(param.ref(), const.ref())
        graph.remove(param)


def _flat_tensors(result: Any) -> list[Tensor]:
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, dict):
        return [t for v in result.values() for t in _flat_tensors(v)]
    if isinstance(result, (tuple, list)):
        return [t for v in result for t in _flat_tensors(v)]
    return []


def _build(spec: Any, outputs: list) -> Any:
    kind = spec[0]
    if kind == "out":
        return outputs[spec[1]]
    if kind is dict:
        return {k: _build(s, outputs) for k, s in zip(spec[1], spec[2])}
    if kind == "namedtuple":
        return spec[1](*(_build(s, outputs) for s in spec[2]))
    return kind(_build(s, outputs) for s in spec[1])
