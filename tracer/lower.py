"""Lowering: a graph and its memory plan become a plain `LoweredPlan` (arena size, slot specs,
constants, steps with kernel names, operands and attrs), which `build` turns into the
`_core.Plan` that C++ runs from start to end (core_cpp/executor/plan.h), wrapped in an
`Executable`. The bundle writer (export/bundle.py) serializes the same LoweredPlan.

    exe = lower(graph)                          # plans memory itself when not given a plan
    outputs, writes = exe.run(inputs, params)   # NumPy arrays, graph.inputs()/params() order

Steps (`describe`):
 1. Slots: graph inputs, params and outputs are the plan's external slots (C-contiguous
    arrays checked against each slot's shape and dtype on every run); consts are copied into
    the plan once (`build`), or stored in the bundle file.
 2. Each tensor's operand is read off the memory plan: the storage owning its base (arena,
    input/param/output slot, const) plus the layout's byte offset and strides.
 3. Each call node with a kernel becomes a step calling that kernel (the registry's KernelFn,
    as eager) with its attrs. A view op is no step: its users read the aliased operand.
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

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from unified.tracer.graph import Graph, Node, Ref, fmt_meta
from unified.tracer.passes import memory_plan as mp

from unified import _core
from unified.ops.registry import OpDef, Trait, lookup

ARENA, INPUT, PARAM, OUTPUT, CONST = range(5)  # core_cpp/executor/plan.h `Storage`


class Operand(NamedTuple):
    """Where a step reads or writes (the tuple `_core.Plan.add_step` takes)."""

    storage: int  # ARENA, INPUT, PARAM, OUTPUT or CONST
    slot: int
    byte_offset: int
    dtype: str  # NumPy dtype name
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements


@dataclasses.dataclass
class LoweredStep:
    """One kernel call: `op` (its OpDef; `op.kernel` is the kernel), the graph node line, and
    the node's attrs (None for a copy step, which runs `cast` without attrs)."""

    op: OpDef
    label: str
    inputs: list[Operand]
    outputs: list[Operand]
    attrs: dict[str, Any] | None

    @property
    def kernel(self) -> str:
        return self.op.kernel


@dataclasses.dataclass
class LoweredPlan:
    """Everything `_core.Plan` is built from, as plain Python values. Slot specs are
    (shape, dtype name); consts are C-contiguous arrays, const k is `CONST` slot k."""

    arena_bytes: int
    inputs: list[tuple[tuple[int, ...], str]]
    params: list[tuple[tuple[int, ...], str]]
    outputs: list[tuple[tuple[int, ...], str]]
    consts: list[np.ndarray]
    const_names: list[str]
    steps: list[LoweredStep]

    @property
    def kernels(self) -> list[str]:
        """Every distinct kernel the steps call, sorted."""
        return sorted({s.kernel for s in self.steps})


class Executable:
    """A lowered graph: `run(inputs, params) -> (outputs, writes)`."""

    def __init__(self, graph: Graph, memory: mp.MemoryPlan, plan: _core.Plan,
                 lowered: LoweredPlan | None = None) -> None:
        self.graph = graph
        self.memory = memory
        self.plan = plan
        self.lowered = lowered
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
    lowered = describe(graph, memory)
    return Executable(graph, memory, build(lowered), lowered)


def build(lowered: LoweredPlan) -> _core.Plan:
    """The `_core.Plan` of a LoweredPlan (kernel ids and parsed attrs resolved per op)."""
    plan = _core.Plan(lowered.arena_bytes, lowered.inputs, lowered.params, lowered.outputs)
    for value in lowered.consts:
        plan.add_const(value)
    for step in lowered.steps:
        attrs = step.op.parsed_attrs(step.attrs) if step.attrs else None
        plan.add_step(step.op.kernel_id(), step.label, step.inputs, step.outputs, attrs)
    return plan


def describe(graph: Graph, memory: mp.MemoryPlan) -> LoweredPlan:
    """Steps 1-4 as a LoweredPlan (nothing is built)."""
    where = _Storages(graph, memory)
    steps: list[LoweredStep] = []
    for node in graph.calls():
        step = _node_step(node, where, memory)
        if step is not None:
            steps.append(step)
    cast = lookup("cast")
    for k, ref in enumerate(graph.outputs):
        if memory.homes.get(ref) != ("output", k):
            target = Operand(OUTPUT, k, 0, *_dense(ref.meta))
            steps.append(LoweredStep(cast, f"copy {ref} to output {k}", [where.operand(ref)],
                                     [target], None))
    params = graph.params()
    for param, ref in graph.writes:
        k = params.index(param)
        if memory.homes.get(ref) != ("param", k):
            target = Operand(PARAM, k, 0, *_dense(param.metas[0]))
            steps.append(LoweredStep(cast, f"write {ref} to %{param.name}",
                                     [where.operand(ref)], [target], None))
    return LoweredPlan(memory.arena_bytes, [_spec(n.metas[0]) for n in graph.inputs()],
                       [_spec(n.metas[0]) for n in params], [_spec(r.meta) for r in graph.outputs],
                       where.consts, where.const_names, steps)


def _spec(meta) -> tuple[tuple[int, ...], str]:
    return tuple(int(d) for d in meta.shape), np.dtype(meta.dtype).name


def _dense(meta) -> tuple:
    """(dtype, shape, strides) of a C-contiguous tensor."""
    shape = tuple(int(d) for d in meta.shape)
    return np.dtype(meta.dtype).name, shape, mp.contiguous_strides(shape)


class _Storages:
    """Step 2: the storage (kind, slot, byte offset) of each owning ref, and operands."""

    def __init__(self, graph: Graph, memory: mp.MemoryPlan) -> None:
        self.memory = memory
        self.base: dict[Ref, tuple[int, int, int]] = {}
        self.consts: list[np.ndarray] = []
        self.const_names: list[str] = []
        for k, node in enumerate(graph.inputs()):
            self.base[Ref(node)] = (INPUT, k, 0)
        for k, node in enumerate(graph.params()):
            self.base[Ref(node)] = (PARAM, k, 0)
        for node in graph.nodes:
            if node.kind == "const":
                value = np.ascontiguousarray(node.value, dtype=node.metas[0].dtype)
                self.base[Ref(node)] = (CONST, len(self.consts), 0)
                self.consts.append(value)
                self.const_names.append(node.name)
        for ref, offset in memory.offsets.items():
            self.base[ref] = (ARENA, 0, offset)
        for ref, (kind, k) in memory.homes.items():
            self.base[ref] = ((OUTPUT if kind == "output" else PARAM), k, 0)

    def operand(self, ref: Ref) -> Operand:
        """The operand of `ref` as the plan reads it."""
        layout = self.memory.layouts[ref]
        storage, slot, offset = self.base[layout.base]
        meta = ref.meta
        return Operand(storage, slot, offset + layout.byte_offset, np.dtype(meta.dtype).name,
                       tuple(int(d) for d in meta.shape), tuple(layout.strides))

    def buffer(self, ref: Ref, meta) -> Operand:
        """The whole buffer owned by `ref`, as a C-contiguous tensor of `meta`."""
        storage, slot, offset = self.base[ref]
        return Operand(storage, slot, offset, *_dense(meta))


def _label(node: Node) -> str:
    names = ", ".join(node.ref_name(i) for i in range(len(node.metas)))
    args = ", ".join(str(r) for r in node.inputs)
    types = ", ".join(fmt_meta(m) for m in node.metas)
    where = f" (traced at {node.source})" if node.source else ""
    return f"{names}: {types} = {node.op.name} {args}{where}"


def _node_step(node: Node, where: _Storages, memory: mp.MemoryPlan) -> LoweredStep | None:
    """Step 3: one call node as a kernel step, a copy step, or nothing (an aliasing view)."""
    op = node.op
    if Trait.VIEW in op.traits:
        ref = Ref(node)
        if ref not in memory.copies:
            return None
        src = node.inputs[0]
        return LoweredStep(lookup("cast"), _label(node), [where.operand(src)],
                           [where.buffer(ref, src.meta)], None)
    inputs = [where.operand(r) for r in node.inputs]
    outputs = [where.operand(Ref(node, i)) for i in range(len(node.metas))]
    return LoweredStep(op, _label(node), inputs, outputs, dict(node.attrs) if node.attrs else None)
