"""Lowering: a graph and its memory plan become a `_core.Plan` that C++ runs from start to
end (core_cpp/executor/plan.h), wrapped in an `Executable`. Python runs once per call.

    exe = lower(graph)                          # plans memory itself when not given a plan
    outputs, writes = exe.run(inputs, params)   # NumPy arrays, graph.inputs()/params() order

Steps:
 1. Slots: graph inputs, params and outputs are the plan's external slots (C-contiguous
    arrays checked against each slot's shape and dtype on every run); consts are copied into
    the plan once.
 2. Each tensor's operand is read off the memory plan: the storage owning its base (arena,
    input/param/output slot, const) plus the layout's byte offset and strides.
 3. Each call node with a kernel becomes a step calling that kernel (the registry's KernelFn,
    as eager) with parsed attrs. A view op is no step: its users read the aliased operand.
    A view op that needs a copy becomes a step of the `cast` kernel (eager's copy) into its
    planned buffer.
 4. Values copied out at the end: each output not computed straight into its output array,
    then each write not computed straight into its param, by a `cast` step.

Outputs are fresh arrays allocated per call by `Executable.run` (the user keeps them) unless
the caller passes its own persistent arrays for some of them (`out`); params
named by graph.writes are updated in place, in the arrays the caller passed. The plan itself
allocates nothing when it runs (`_core.executor_allocations()` is unchanged by a run).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from unified.tracer.graph import Graph, Node, Ref, fmt_meta
from unified.tracer.passes import memory_plan as mp

from unified import _core
from unified.ops.registry import Trait, lookup

ARENA, INPUT, PARAM, OUTPUT, CONST = range(5)  # core_cpp/executor/plan.h `Storage`


class Executable:
    """A lowered graph: `run(inputs, params) -> (outputs, writes)`."""

    def __init__(self, graph: Graph, memory: mp.MemoryPlan, plan: _core.Plan) -> None:
        self.graph = graph
        self.memory = memory
        self.plan = plan
        self._outputs = [(tuple(r.meta.shape), np.dtype(r.meta.dtype)) for r in graph.outputs]
        params = graph.params()
        self._writes = [params.index(p) for p, _ in graph.writes]

    def run(self, inputs: Sequence[np.ndarray], params: Sequence[np.ndarray],
            out: dict[int, np.ndarray] | None = None) -> tuple[list[np.ndarray],
                                                                list[np.ndarray]]:
        """Run every step on `inputs` and `params` (C-contiguous arrays of the graph's shapes
        and dtypes). Returns (the output arrays, the param arrays of graph.writes, updated in
        place). Output k is written into `out[k]` when given (an array the caller keeps and
        reuses across runs, e.g. a persistent .grad buffer), else into a new array."""
        if out:
            outputs = [out[k] if k in out else np.empty(shape, dtype)
                       for k, (shape, dtype) in enumerate(self._outputs)]
        else:
            outputs = [np.empty(shape, dtype) for shape, dtype in self._outputs]
        self.plan.run(inputs, params, outputs)
        return outputs, [params[k] for k in self._writes]

    def describe(self) -> str:
        """One line per step: kernel, operands (storage+byte offset:dtype(shape))."""
        return self.plan.describe()


def lower(graph: Graph, memory: mp.MemoryPlan | None = None) -> Executable:
    """Build the `_core.Plan` of `graph` (steps 1-4 above)."""
    memory = memory or mp.plan(graph)
    plan = _core.Plan(memory.arena_bytes, [_spec(n.metas[0]) for n in graph.inputs()],
                      [_spec(n.metas[0]) for n in graph.params()],
                      [_spec(r.meta) for r in graph.outputs])
    where = _Storages(graph, memory, plan)
    for node in graph.calls():
        _add_node(plan, node, where, memory)
    copy_kid = lookup("cast").kernel_id()
    for k, ref in enumerate(graph.outputs):
        if memory.homes.get(ref) != ("output", k):
            target = (OUTPUT, k, 0) + _dense(ref.meta)
            plan.add_step(copy_kid, f"copy {ref} to output {k}", [where.operand(ref)], [target])
    params = graph.params()
    for param, ref in graph.writes:
        k = params.index(param)
        if memory.homes.get(ref) != ("param", k):
            target = (PARAM, k, 0) + _dense(param.metas[0])
            plan.add_step(copy_kid, f"write {ref} to %{param.name}", [where.operand(ref)],
                          [target])
    return Executable(graph, memory, plan)


def _spec(meta) -> tuple[tuple[int, ...], str]:
    return tuple(int(d) for d in meta.shape), np.dtype(meta.dtype).name


def _dense(meta) -> tuple:
    """(dtype, shape, strides) of a C-contiguous tensor."""
    shape = tuple(int(d) for d in meta.shape)
    return np.dtype(meta.dtype).name, shape, mp.contiguous_strides(shape)


class _Storages:
    """Step 2: the storage (kind, slot, byte offset) of each owning ref, and operands."""

    def __init__(self, graph: Graph, memory: mp.MemoryPlan, plan: _core.Plan) -> None:
        self.memory = memory
        self.base: dict[Ref, tuple[int, int, int]] = {}
        for k, node in enumerate(graph.inputs()):
            self.base[Ref(node)] = (INPUT, k, 0)
        for k, node in enumerate(graph.params()):
            self.base[Ref(node)] = (PARAM, k, 0)
        for node in graph.nodes:
            if node.kind == "const":
                value = np.ascontiguousarray(node.value, dtype=node.metas[0].dtype)
                self.base[Ref(node)] = (CONST, plan.add_const(value), 0)
        for ref, offset in memory.offsets.items():
            self.base[ref] = (ARENA, 0, offset)
        for ref, (kind, k) in memory.homes.items():
            self.base[ref] = ((OUTPUT if kind == "output" else PARAM), k, 0)

    def operand(self, ref: Ref) -> tuple:
        """(storage, slot, byte offset, dtype, shape, strides) of `ref` as the plan reads it."""
        layout = self.memory.layouts[ref]
        storage, slot, offset = self.base[layout.base]
        meta = ref.meta
        return (storage, slot, offset + layout.byte_offset, np.dtype(meta.dtype).name,
                tuple(int(d) for d in meta.shape), layout.strides)

    def buffer(self, ref: Ref, meta) -> tuple:
        """The whole buffer owned by `ref`, as a C-contiguous tensor of `meta`."""
        storage, slot, offset = self.base[ref]
        return (storage, slot, offset) + _dense(meta)


def _label(node: Node) -> str:
    names = ", ".join(node.ref_name(i) for i in range(len(node.metas)))
    args = ", ".join(str(r) for r in node.inputs)
    types = ", ".join(fmt_meta(m) for m in node.metas)
    where = f" (traced at {node.source})" if node.source else ""
    return f"{names}: {types} = {node.op.name} {args}{where}"


def _add_node(plan: _core.Plan, node: Node, where: _Storages, memory: mp.MemoryPlan) -> None:
    """Step 3: one call node as a kernel step, a copy step, or nothing (an aliasing view)."""
    op = node.op
    if Trait.VIEW in op.traits:
        ref = Ref(node)
        if ref in memory.copies:
            src = node.inputs[0]
            plan.add_step(lookup("cast").kernel_id(), _label(node),
                          [where.operand(src)], [where.buffer(ref, src.meta)])
        return
    inputs = [where.operand(r) for r in node.inputs]
    outputs = [where.operand(Ref(node, i)) for i in range(len(node.metas))]
    attrs = op.parsed_attrs(node.attrs) if node.attrs else None
    plan.add_step(op.kernel_id(), _label(node), inputs, outputs, attrs)
