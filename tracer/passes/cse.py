"""Common subexpression elimination: merge call nodes that compute the same value, and
identical consts.

Algorithm:
  1. Walk the nodes in order, giving each a key:
     - const: (dtype, shape, bytes of the data);
     - call whose op is pure (neither Trait.RANDOM nor Trait.SIDE_EFFECT): (the OpDef, its
       input refs as (node id, output index), its attrs frozen by type and value);
     - any other node (input, param, random or side-effect call): no key, never merged.
  2. The first node with a key is kept. A later node with the same key has every use of each
     of its outputs (in nodes, outputs and writes) pointed at the kept node's output of the
     same index, and is removed.
  3. Uses are rewritten during the walk, so a later node's key already names the kept nodes:
     whole duplicated chains (a*b+c computed twice) merge in one pass.

Limits: attrs compare by type and exact value (1 and 1.0 differ; floats by bit pattern, so
0.0 and -0.0 differ and equal NaNs merge); inputs of commutative ops are not reordered
(add carries alpha, so add(a, b) and add(b, a) are different nodes here); no algebraic
identities. View ops merge like any pure op: the graph is SSA, nothing is written in place."""

from __future__ import annotations

from typing import Any

import numpy as np

from unified.tracer.graph import Graph, Node
from unified.tracer.passes import is_pure


def run(graph: Graph) -> Graph:
    """A copy of `graph` in which each distinct value is computed (or stored) once."""
    out = graph.copy()
    kept: dict[Any, Node] = {}
    for node in list(out.nodes):
        key = _key(node)
        if key is None:
            continue
        first = kept.setdefault(key, node)
        if first is node:
            continue
        for index in range(len(node.metas)):
            out.replace_uses(node.ref(index), first.ref(index))
        out.remove(node)
    return out


def _key(node: Node) -> Any:
    """What makes two nodes the same value, or None for a node never merged."""
    if node.kind == "const":
        value = node.value
        return ("const", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if node.kind != "call" or not is_pure(node.op):
        return None
    refs = tuple((r.node.id, r.index) for r in node.inputs)
    return ("call", id(node.op), refs, freeze(node.attrs))


def freeze(value: Any) -> Any:
    """A hashable form of an attr value that is equal only for identical values and types."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return ("np." + value.dtype.str, value.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))  # unhashable and unknown: equal only to itself
    return (type(value).__name__, value)
