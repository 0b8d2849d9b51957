"""The graph IR: a small, typed, printable SSA graph that every later stage reads (passes, the
C++ plan lowering, the ONNX exporter, the bundle writer). Node kinds: input, param (captured
state such as weights, buffers, optimizer state), const, call (applies an OpDef), output.
A call with several outputs is referred to as (node, index) through `Ref`. Recording is in
record.py, running a graph op by op in interpret.py, transformations in passes/."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from unified.errors import ShapeError, fmt_shape
from unified.ops.registry import OpDef, TensorMeta

KINDS = ("input", "param", "const", "call", "output")
_DTYPE_NAMES = {"float32": "f32", "int32": "i32", "int64": "i64", "bool": "b8", "uint8": "u8"}


class SourceLoc(NamedTuple):
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file.rsplit('/', 1)[-1]}:{self.line} {self.function}"


class Ref(NamedTuple):
    """Output `index` of `node` (0 for single-output nodes)."""

    node: Node
    index: int = 0

    @property
    def meta(self) -> TensorMeta:
        return self.node.metas[self.index]

    def __str__(self) -> str:
        return self.node.ref_name(self.index)


def fmt_meta(meta: TensorMeta) -> str:
    dims = ",".join(str(d) for d in meta.shape)
    return f"{_DTYPE_NAMES.get(np.dtype(meta.dtype).name, np.dtype(meta.dtype).name)}[{dims}]"


def fmt_attr(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclasses.dataclass(eq=False)
class Node:
    """One SSA node. `inputs` are Refs; `users` lists the nodes that read this one (kept in
    step by Graph); `meta` is a dict for passes (e.g. the memory plan's offsets)."""

    id: int
    kind: str
    name: str
    metas: tuple[TensorMeta, ...]
    op: OpDef | None = None
    inputs: tuple[Ref, ...] = ()
    attrs: dict = dataclasses.field(default_factory=dict)
    value: np.ndarray | None = None  # const: the data
    source: SourceLoc | None = None
    users: list[Node] = dataclasses.field(default_factory=list)
    meta: dict = dataclasses.field(default_factory=dict)

    def ref_name(self, index: int = 0) -> str:
        return f"%{self.name}" if len(self.metas) <= 1 else f"%{self.name}.{index}"

    def ref(self, index: int = 0) -> Ref:
        return Ref(self, index)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.ref_name()}>"


class Graph:
    """Nodes in topological order plus the function's interface: inputs, params (captured
    state), outputs, and `writes` (state updated in place: param <- new value)."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.nodes: list[Node] = []
        self.outputs: list[Ref] = []
        self.writes: list[tuple[Node, Ref]] = []
        self._next_id = 0

    # ---- building ------------------------------------------------------------------------
    def _add(self, kind: str, name: str | None, metas: tuple, **fields) -> Node:
        node = Node(id=self._next_id, kind=kind, name=name or str(self._next_id), metas=metas,
                    **fields)
        self._next_id += 1
        for ref in node.inputs:
            ref.node.users.append(node)
        self.nodes.append(node)
        return node

    def add_input(self, name: str, meta: TensorMeta) -> Node:
        return self._add("input", name, (meta,))

    def add_param(self, name: str, meta: TensorMeta) -> Node:
        return self._add("param", name, (meta,))

    def add_const(self, value: np.ndarray, name: str | None = None,
                  before: Node | None = None) -> Node:
        """A constant; appended, or placed just before node `before` (passes keep the order
        topological that way)."""
        value = np.asarray(value)
        node = self._add("const", name, (TensorMeta(value.shape, value.dtype),), value=value)
        if before is not None:
            self.nodes.pop()
            self.nodes.insert(self.nodes.index(before), node)
        return node

    def add_call(self, op: OpDef, inputs: tuple[Ref, ...], attrs: dict | None,
                 metas: tuple[TensorMeta, ...] | None = None,
                 source: SourceLoc | None = None) -> Node:
        if metas is None:
            metas = infer_metas(op, inputs, attrs or {})
        return self._add("call", None, tuple(metas), op=op, inputs=tuple(inputs),
                         attrs=dict(attrs or {}), source=source)

    def set_outputs(self, refs: list[Ref]) -> None:
        self.outputs = list(refs)

    def add_write(self, param: Node, ref: Ref) -> None:
        if param.kind != "param":
            raise ValueError(f"add_write: {param!r} is not a param")
        self.writes.append((param, ref))

    # ---- editing (passes) -----------------------------------------------------------------
    def copy(self) -> Graph:
        """A structural copy: new Nodes with the same ids, names, attrs, metas and sources
        (const data is shared: treat it as read-only). Passes edit a copy, never the caller's
        graph. Other attributes of the graph are copied shallowly."""
        new = Graph.__new__(Graph)
        new.__dict__.update(self.__dict__)
        new.nodes = []
        clones: dict[int, Node] = {}
        for node in self.nodes:
            inputs = tuple(Ref(clones[r.node.id], r.index) for r in node.inputs)
            clone = dataclasses.replace(node, inputs=inputs, attrs=dict(node.attrs), users=[],
                                        meta=dict(node.meta))
            for ref in inputs:
                ref.node.users.append(clone)
            clones[node.id] = clone
            new.nodes.append(clone)
        new.outputs = [Ref(clones[r.node.id], r.index) for r in self.outputs]
        new.writes = [(clones[p.id], Ref(clones[r.node.id], r.index)) for p, r in self.writes]
        return new

    def replace_uses(self, old: Ref, new: Ref) -> None:
        """Point every use of `old` (in nodes, outputs, writes) at `new`."""
        for user in list(dict.fromkeys(old.node.users)):
            user.inputs = tuple(new if r == old else r for r in user.inputs)
            _sync_users(old.node, user)
            _sync_users(new.node, user)
        self.outputs = [new if r == old else r for r in self.outputs]
        self.writes = [(p, new if r == old else r) for p, r in self.writes]

    def remove(self, node: Node) -> None:
        if node.users:
            raise ValueError(f"remove: {node!r} still has users {node.users}")
        for ref in node.inputs:
            if node in ref.node.users:
                ref.node.users.remove(node)
        self.nodes.remove(node)

    # ---- reading --------------------------------------------------------------------------
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "input"]

    def params(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "param"]

    def calls(self) -> Iterator[Node]:
        return (n for n in self.nodes if n.kind == "call")

    def live_refs(self) -> set[Ref]:
        """Refs the outside world reads: outputs and written state."""
        return set(self.outputs) | {r for _, r in self.writes}

    def check(self) -> None:
        """Topological order, users bookkeeping and stored metas against each op's infer."""
        seen: set[int] = set()
        for node in self.nodes:
            for ref in node.inputs:
                if ref.node.id not in seen:
                    raise ValueError(f"graph {self.name}: {node!r} reads {ref} before it is "
                                     "defined")
                reads = sum(r.node is ref.node for r in node.inputs)
                if sum(u is node for u in ref.node.users) != reads:
                    raise ValueError(f"graph {self.name}: {ref.node!r} does not list user "
                                     f"{node!r} once per read ({reads})")
                if ref.index >= len(ref.node.metas):
                    raise ValueError(f"graph {self.name}: {node!r} reads {ref} out of range")
            if node.kind == "call":
                want = infer_metas(node.op, node.inputs, node.attrs)
                got = tuple((tuple(m.shape), np.dtype(m.dtype)) for m in node.metas)
                if got != tuple((tuple(m.shape), np.dtype(m.dtype)) for m in want):
                    raise ValueError(f"graph {self.name}: {node!r} ({node.op.name}) stores "
                                     f"{got} but infer gives {want}")
            for user in node.users:
                if not any(r.node is node for r in user.inputs):
                    raise ValueError(f"graph {self.name}: {node!r} lists {user!r} as a user "
                                     "but it does not read it")
            seen.add(node.id)
        for ref in self.live_refs():
            if ref.node.id not in seen:
                raise ValueError(f"graph {self.name}: output {ref} is not defined")

    # ---- printing -------------------------------------------------------------------------
    def __str__(self) -> str:
        params = ", ".join(
            f"%{n.name}: {fmt_meta(n.metas[0])}{' param' if n.kind == 'param' else ''}"
            for n in self.nodes if n.kind in ("input", "param"))
        lines = [f"graph {self.name}({params}) {{"]
        for node in self.nodes:
            if node.kind in ("input", "param"):
                continue
            lines.append("  " + _node_line(node))
        ret = ", ".join(str(r) for r in self.outputs)
        writes = ", ".join(f"%{p.name} <- {r}" for p, r in self.writes)
        lines.append(f"  return {ret}" + (f"; writes {writes}" if writes else ""))
        lines.append("}")
        return "\n".join(lines)

    def print_tabular(self) -> str:
        rows = [("node", "kind", "op", "inputs", "type", "source")]
        for n in self.nodes:
            rows.append((n.ref_name(), n.kind, n.op.name if n.op else "",
                         ", ".join(str(r) for r in n.inputs),
                         ", ".join(fmt_meta(m) for m in n.metas), str(n.source or "")))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)

    def to_dot(self) -> str:
        """Graphviz source: one box per node (op or kind, result types), edges from producer to
        user, the returned values as `return k` ovals and in-place state writes as dashed edges
        into `write <param>` ovals. Render with `dot -Tpng`."""
        def q(text: str) -> str:
            return text.replace("\\", "\\\\").replace('"', '\\"')

        out = [f'digraph "{q(self.name)}" {{', "  node [shape=box, fontname=monospace];"]
        for n in self.nodes:
            label = n.op.name if n.op else f"{n.kind} %{n.name}"
            label = q(label) + "\\n" + ", ".join(fmt_meta(m) for m in n.metas)
            out.append(f'  n{n.id} [label="{label}"];')
            for ref in n.inputs:
                out.append(f"  n{ref.node.id} -> n{n.id};")
        for k, ref in enumerate(self.outputs):
            out.append(f'  out{k} [shape=oval, label="return {k}"];')
            out.append(f"  n{ref.node.id} -> out{k};")
        for k, (param, ref) in enumerate(self.writes):
            out.append(f'  w{k} [shape=oval, label="write %{q(param.name)}"];')
            out.append(f"  n{ref.node.id} -> w{k} [style=dashed];")
        out.append("}")
        return "\n".join(out)


def _sync_users(node: Node, user: Node) -> None:
    """List `user` in node.users once per input of `user` that reads `node` (as _add does)."""
    want = sum(r.node is node for r in user.inputs)
    have = sum(u is user for u in node.users)
    for _ in range(have - want):
        node.users.remove(user)
    node.users.extend([user] * (want - have))


def _node_line(node: Node) -> str:
    types = ", ".join(fmt_meta(m) for m in node.metas)
    if node.kind == "const":
        body = f"const {np.array2string(node.value.reshape(-1)[:4], separator=',')}" + (
            "..." if node.value.size > 4 else "")
    else:
        args = ", ".join(str(r) for r in node.inputs)
        attrs = " ".join(f"{k}={fmt_attr(v)}" for k, v in node.attrs.items())
        body = " ".join(part for part in (node.op.name, args, attrs) if part)
    names = ", ".join(node.ref_name(i) for i in range(max(1, len(node.metas))))
    text = f"{names}: {types} = {body}"
    return f"{text:<60} # {node.source}" if node.source else text


def infer_metas(op: OpDef, inputs: tuple[Ref, ...], attrs: dict) -> tuple[TensorMeta, ...]:
    """The op's shape inference over the IR (metadata only, no data)."""
    metas = [r.meta for r in inputs]
    try:
        result = op.infer(*metas, **attrs) if attrs else op.infer(*metas)
    except (ShapeError, ValueError, TypeError) as exc:
        shapes = ", ".join(fmt_shape(m.shape) for m in metas)
        raise ShapeError(f"while inferring {op.name} over inputs {shapes}: {exc}") from exc
    results = result if op.num_outputs > 1 else (result,)
    return tuple(TensorMeta(tuple(int(d) for d in m.shape), np.dtype(m.dtype)) for m in results)
