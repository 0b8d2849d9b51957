"""Check mode: compare two recordings of one traced function op by op, and raise a TraceError
naming the first op that differs (its name, attrs and Python constants on both calls) and the
user's source line that issued it.

    compare(first, second, name="train_step")   # Recordings (record.py) or Graphs

When to use it: `U.trace(fn, check=True)` while developing, on code that may capture Python
values that change from call to call (a float learning rate or epoch counter read inside the
function, a value computed in Python from the arguments, a random Python choice). Replay runs
the graph of an earlier call, so such a value would silently stay at its recorded value; check
mode re-records every call eagerly and compares it with the graph replay would run, so the
first divergence stops with the line to fix (pass the value as a tensor argument or keep it
in a tensor the function reads, as the optimizers do with their hyper-parameters). It costs
an eager call plus a recording per call: turn it off for training runs.

Algorithm:
 1. Take the call nodes of each graph in recorded order (the order ops were dispatched).
 2. Describe every call by (op name, attrs, output shapes/dtypes, and per input where it comes
    from: a function input by name, captured state by position, a constant by value, or an
    earlier call by its position and output index). A random op's generator state is an
    int64 (seed, offset) input `rng<k>` (record.py) whose value changes on every call by
    design: it is compared by its position among those inputs, never by value.
 3. Walk both lists together; the first pair whose descriptions differ raises, listing the
    parts that differ (op, attrs, constants, shapes, wiring) and the second call's source
    line. When one list is a prefix of the other, the first extra op raises.
 4. Equal op lists: compare the function's interface (outputs and state writes, by call
    position), raising if the set of returned or written values changed.

Limits: only op sequences are compared; values of captured state and guards are trace.py's
(record.difference). Two recordings that dispatch the same ops in another order are reported
at the first position where they disagree, even if the graphs compute the same thing.

Wired in: `U.trace(fn, check=True)` (trace.py's `Traced._checked`) re-records every call once
a variant is replayable and compares it with that variant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from unified.tracer.graph import Graph, Node, Ref, fmt_attr, fmt_meta

from unified.errors import TraceError
from unified.ops.registry import Trait

_MAX_CONST = 6  # elements of a constant shown in a message


def compare(first: Any, second: Any, name: str = "fn") -> None:
    """Raise TraceError at the first op that differs between two recordings of `name` (each a
    record.Recording or a Graph); return None when their op sequences and interfaces agree."""
    graph_a, graph_b = _graph(first), _graph(second)
    calls_a, calls_b = list(graph_a.calls()), list(graph_b.calls())
    pos_a = {n.id: i for i, n in enumerate(calls_a)}
    pos_b = {n.id: i for i, n in enumerate(calls_b)}
    for i, (a, b) in enumerate(zip(calls_a, calls_b)):
        diffs = _differences(_describe(a, graph_a, pos_a), _describe(b, graph_b, pos_b))
        if diffs:
            raise TraceError(
                f"trace({name}) check: op #{i} differs between two calls: "
                f"{_what(a)} then {_what(b)}\n  " + "\n  ".join(diffs) + _advice(b))
    if len(calls_a) != len(calls_b):
        longer, which = (calls_b, "this call") if len(calls_b) > len(calls_a) else (
            calls_a, "the recorded call")
        extra = longer[min(len(calls_a), len(calls_b))]
        raise TraceError(
            f"trace({name}) check: {which} dispatches more ops ({len(calls_a)} recorded, "
            f"{len(calls_b)} now); the first extra one is {_what(extra)}" + _advice(extra))
    for part in ("outputs", "writes"):
        if _interface(graph_a, pos_a, part) != _interface(graph_b, pos_b, part):
            raise TraceError(f"trace({name}) check: the same ops ran, but the function's "
                             f"{part} changed between two calls (it returns or updates other "
                             "values now)")


def _graph(recording: Any) -> Graph:
    return recording if isinstance(recording, Graph) else recording.graph


def _describe(node: Node, graph: Graph, pos: dict[int, int]) -> dict[str, Any]:
    attrs = dict(node.attrs)
    consts, wiring = {}, []
    params = {p.id: i for i, p in enumerate(graph.params())}
    rngs = {n.id: i for i, n in enumerate(n for n in graph.inputs() if _generator_state(n))}
    for k, ref in enumerate(node.inputs):
        src = ref.node
        if src.kind == "const":
            consts[node.op.inputs[k] if k < len(node.op.inputs) else str(k)] = _const(src.value)
            wiring.append(("const",))
        elif src.kind == "call":
            wiring.append(("op", pos[src.id], ref.index))
        elif src.kind == "param":
            wiring.append(("state", params[src.id]))
        elif src.id in rngs:
            wiring.append(("generator state", rngs[src.id]))
        else:
            wiring.append((src.kind, src.name))
    return {"op": node.op.name, "attrs": attrs, "constants": consts,
            "shapes": [fmt_meta(m) for m in node.metas], "inputs": wiring}


def _generator_state(node: Node) -> bool:
    """An input read only as the last input (the generator state) of random ops."""
    return bool(node.users) and all(
        Trait.RANDOM in u.op.traits and u.inputs[-1].node is node
        and sum(r.node is node for r in u.inputs) == 1 for u in node.users)


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    for key in ("op", "attrs", "constants", "shapes", "inputs"):
        if _key(a[key]) != _key(b[key]):
            out.append(f"{key}: {_show(a[key])} -> {_show(b[key])}")
    return out


def _key(value: Any) -> str:
    return repr(value)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v if isinstance(v, str) else fmt_attr(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_wire(w) if isinstance(w, tuple) else str(w)
                               for w in value) + "]"
    return str(value)


def _wire(w: tuple) -> str:
    if w[0] == "op":
        return f"op #{w[1]}" + (f".{w[2]}" if w[2] else "")
    if w[0] == "state":
        return f"state {w[1]}"
    return w[0] if len(w) == 1 else f"{w[0]} {w[1]}"


def _const(value: np.ndarray) -> str:
    flat = np.asarray(value).ravel()
    shown = ", ".join(str(v) for v in flat[:_MAX_CONST])  # float32 prints shortest
    if value.ndim == 0:
        return shown
    return f"[{shown}{', ...' if flat.size > _MAX_CONST else ''}]"


def _what(node: Node) -> str:
    where = f" at {node.source}" if node.source else ""
    return f"{node.op.name}{where}"


def _advice(node: Node) -> str:
    line = str(node.source) if node.source else "the function"
    return (f"\nA Python value that changes between calls is baked into the traced graph; "
            f"replay would keep the recorded one. Pass it as a tensor (an argument, or state "
            f"the function reads) at {line}.")


def _interface(graph: Graph, pos: dict[int, int], part: str) -> list[tuple]:
    def where(ref: Ref) -> tuple:
        return (ref.node.kind, pos.get(ref.node.id, ref.node.name), ref.index)

    if part == "outputs":
        return [where(r) for r in graph.outputs]
    params = {p.id: i for i, p in enumerate(graph.params())}
    return [(params[p.id], where(r)) for p, r in graph.writes]
