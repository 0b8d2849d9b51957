"""Running one recorded variant (record.Recording) on new arguments: through its lowered `_core`
plan (tracer/pipeline.py, tracer/lower.py) by default, or node by node through the reference
interpreter (tracer/interpret.py) with backend="interpret" or when the pipeline cannot lower
the graph. trace.py picks the variant, checks guards on the returned values and commits.

How state is written (the guard scheme):
 1. A variant WITHOUT guards (and whose written params are C-contiguous and share no memory)
    runs with its writes in place: the plan updates parameters, buffers and optimizer state
    in their own arrays as it runs; nothing is copied afterwards. A kernel error in the middle
    leaves the state partly updated, as the same error in eager code would.
 2. A variant WITH guards may turn out to be the wrong path only after it ran, so its plan is
    lowered with every write turned into an extra output (pipeline.compile(in_place=False)):
    the run changes no state; trace.py checks the guards on the guarded outputs, and only
    when all hold copies the written values into the state arrays (`commit`). A failed guard
    or an error leaves every state tensor as it was, so the next variant, a re-recording or
    the strict-mode error starts from the caller's state.
The interpreter never writes its arguments, so it follows scheme 2."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from unified.tracer import interpret, pipeline
from unified.tracer.record import Recording, _root

from unified.random import default_generator, state_array
from unified.tensor import Tensor, wrap

log = logging.getLogger(__name__)

BACKENDS = ("plan", "interpret")


class Result:
    """outputs: Tensors in graph.outputs order; writes: [(param index, new value array)] still
    to be copied into rec.arrays (empty when the plan wrote them in place); written: the param
    indices whose values changed (their version counters are bumped)."""

    __slots__ = ("outputs", "writes", "written")

    def __init__(self, outputs: list[Tensor], writes: list, written: list[int]) -> None:
        self.outputs, self.writes, self.written = outputs, writes, written


def _rng_arrays(rec: Recording) -> dict[int, np.ndarray]:
    """The generator state each random op of this replay reads, by input node id: the
    default generator's state now plus the op's offset relative to the call's start."""
    seed, base = default_generator.initial_seed(), default_generator.offset
    return {node.id: state_array(seed, base + rel) for node, rel in rec.rng}


def _inputs(rec: Recording, nodes: list, flat: list[Tensor], contiguous: bool) -> list:
    """The arrays (or tensors) bound to `nodes` (graph input nodes, matched by id)."""
    position = {node.id: p for node, p in zip(rec.graph.inputs(), rec.input_positions)}
    rng = _rng_arrays(rec) if rec.rng else {}
    values = []
    for node in nodes:
        p = position[node.id]
        array = rng[node.id] if p is None else flat[p]._data
        values.append(_dense(array) if contiguous else array)
    return values


def _dense(array: np.ndarray) -> np.ndarray:
    """`array` when C-contiguous, else a C-contiguous copy of the same shape (0-d included,
    which np.ascontiguousarray would make 1-d)."""
    return array if array.flags.c_contiguous else np.array(array, order="C")


def run_interpreted(rec: Recording, flat: list[Tensor]) -> Result:
    inputs = [wrap(a) if isinstance(a, np.ndarray) else a
              for a in _inputs(rec, rec.graph.inputs(), flat, contiguous=False)]
    outputs, writes = interpret.run(rec.graph, inputs, rec.state)
    index = {node.id: i for i, node in enumerate(rec.graph.params())}
    pairs = [(index[p.id], v._data) for (p, _), v in zip(rec.graph.writes, writes)]
    return Result(outputs, pairs, [i for i, _ in pairs])


class PlanReplay:
    """A variant lowered once (pipeline.compile) and run on each call (see the module doc)."""

    def __init__(self, rec: Recording) -> None:
        written = {p.id for p, _ in rec.graph.writes}
        params = rec.graph.params()
        roots = [id(_root(a)) for a in rec.arrays]
        self.in_place = (not rec.guards and len(set(roots)) == len(roots)
                         and all(a.flags.c_contiguous for p, a in zip(params, rec.arrays)
                                 if p.id in written))
        self.exe = pipeline.compile(rec.graph, in_place=self.in_place)
        graph = self.exe.graph
        index = {node.id: i for i, node in enumerate(params)}
        self.params = [index[n.id] for n in graph.params()]  # plan param k -> rec.arrays index
        self.inputs = graph.inputs()
        self.n_outputs = len(rec.graph.outputs)
        self.write_params = [index[p.id] for p, _ in rec.graph.writes]

    def run(self, rec: Recording, flat: list[Tensor]) -> Result:
        inputs = _inputs(rec, self.inputs, flat, contiguous=True)
        arrays = rec.arrays  # written params are C-contiguous when in place (checked above)
        params = [_dense(arrays[i]) for i in self.params]
        outputs, _ = self.exe.run(inputs, params)
        tensors = [wrap(a) for a in outputs[:self.n_outputs]]
        if self.in_place:
            return Result(tensors, [], self.write_params)
        extra = outputs[self.n_outputs:]
        return Result(tensors, list(zip(self.write_params, extra)), self.write_params)


def compiled(rec: Recording, backend: str, name: str) -> Any:
    """The variant's runner, built on its first replay and kept on the Recording: a PlanReplay,
    or "interpret" (asked for, or the pipeline could not lower the graph)."""
    if rec.compiled is None:
        rec.compiled = "interpret"
        if backend == "plan":
            try:
                rec.compiled = PlanReplay(rec)
            except (ValueError, TypeError, KeyError, RuntimeError, NotImplementedError) as exc:
                log.info("trace(%s): replaying with the interpreter: the plan cannot be "
                         "built (%s)", name, exc)
    return rec.compiled


def run(rec: Recording, flat: list[Tensor], backend: str, name: str) -> Result:
    runner = compiled(rec, backend, name)
    if runner == "interpret":
        return run_interpreted(rec, flat)
    return runner.run(rec, flat)
