"""The reference interpreter: run a graph node by node through `unified.dispatch.apply`, the
same path (same OpDef, same C++ kernels, same attrs) eager execution takes, so its results
are bit-identical to eager. The lowered `_core` plan and every pass are tested against it.

    outputs, writes = interpret.run(graph, inputs, params)

`inputs` and `params` follow the order of `graph.inputs()` and `graph.params()`. `writes`
holds the new values of `graph.writes` in order; the caller copies them into the state
tensors (the interpreter never changes its arguments). Consts enter as read-only tensors over
the graph's data, so an output that is a view of a const cannot change the graph. Ops run
with gradient recording off: a recorded graph already holds its backward ops as calls."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unified.dispatch import apply
from unified.errors import USER_ERRORS, fmt_shape
from unified.grad_mode import set_grad_enabled
from unified.tensor import Tensor, wrap
from unified.tracer.graph import Graph, Node, fmt_meta


def run(graph: Graph, inputs: Sequence[Tensor],
        params: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Run `graph` on `inputs` and `params`; returns (outputs, new values of graph.writes)."""
    env: dict[int, tuple[Tensor, ...]] = {}
    _bind(graph, graph.inputs(), inputs, "input", env)
    _bind(graph, graph.params(), params, "param", env)
    with set_grad_enabled(False):
        for node in graph.nodes:
            if node.kind == "const":
                env[node.id] = (const_tensor(node.value),)
            elif node.kind == "call":
                env[node.id] = _call(graph, node, env)
    outputs = [env[r.node.id][r.index] for r in graph.outputs]
    writes = [env[r.node.id][r.index] for _, r in graph.writes]
    return outputs, writes


def _bind(graph: Graph, nodes: list[Node], values: Sequence[Tensor], kind: str,
          env: dict[int, tuple[Tensor, ...]]) -> None:
    """Check count, type, shape and dtype of the given tensors against the graph's nodes."""
    if len(values) != len(nodes):
        raise ValueError(f"graph {graph.name} takes {len(nodes)} {kind}s "
                         f"({', '.join('%' + n.name for n in nodes)}), got {len(values)}")
    for node, value in zip(nodes, values, strict=True):
        if not isinstance(value, Tensor):
            raise TypeError(f"graph {graph.name}: {kind} %{node.name} must be a Tensor, got "
                            f"{type(value).__name__}")
        meta = node.metas[0]
        if tuple(value.shape) != tuple(meta.shape) or value.dtype != np.dtype(meta.dtype):
            raise ValueError(f"graph {graph.name}: {kind} %{node.name} expects "
                             f"{fmt_meta(meta)}, got {value.dtype} of shape "
                             f"{fmt_shape(value.shape)}")
        env[node.id] = (value,)


def const_tensor(value: np.ndarray) -> Tensor:
    """A read-only tensor over a const's data (views of it stay read-only too)."""
    view = value.view()
    view.flags.writeable = False
    return wrap(view)


def _call(graph: Graph, node: Node, env: dict[int, tuple[Tensor, ...]]) -> tuple:
    """Apply one call node; errors name the node and the user's line it was recorded at."""
    args = tuple(env[r.node.id][r.index] for r in node.inputs)
    try:
        result = apply(node.op, args, node.attrs or None)
    except USER_ERRORS as exc:
        where = f" (recorded at {node.source})" if node.source else ""
        exc.add_note(f"  while interpreting {node.ref_name()} = {node.op.name} in graph "
                     f"{graph.name}{where}")
        raise
    return result if isinstance(result, tuple) else (result,)
