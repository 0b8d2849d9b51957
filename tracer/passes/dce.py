"""Dead code elimination: drop call and const nodes whose results reach no output and no
state write.

Algorithm:
  1. Roots: the nodes of `graph.outputs` and of `graph.writes`, plus every call whose op has
     Trait.SIDE_EFFECT (its effect is the point, not its result).
  2. Walk backward from the roots over node inputs, marking every node reached as live.
  3. Remove every call and const node not marked, last first (so each has no users left
     when it goes). Input and param nodes are the graph's interface and always stay, used
     or not.

Rule for random ops: an unused Trait.RANDOM call is removed like any other. Each random call
carries its own generator position (its (seed, offset) state input), so removing one changes no
other call's numbers; the generator's advance is graph state written by the recorder, not the
call's result. Limits: whole nodes only (an unused output of a multi-output call keeps the
call when another output is used); no dead-store analysis of writes."""

from __future__ import annotations

from unified.ops.registry import Trait
from unified.tracer.graph import Graph, Node


def run(graph: Graph) -> Graph:
    """A copy of `graph` without the call and const nodes nothing live reads."""
    out = graph.copy()
    live = _live_nodes(out)
    for node in reversed(list(out.nodes)):
        if node.kind in ("call", "const") and node.id not in live:
            out.remove(node)
    return out


def _live_nodes(graph: Graph) -> set[int]:
    """Ids of the nodes the roots (outputs, writes, side effects) depend on."""
    stack: list[Node] = [r.node for r in graph.live_refs()]
    stack += [n for n in graph.calls() if Trait.SIDE_EFFECT in n.op.traits]
    live: set[int] = set()
    while stack:
        node = stack.pop()
        if node.id in live:
            continue
        live.add(node.id)
        stack.extend(r.node for r in node.inputs)
    return live
