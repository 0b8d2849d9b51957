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
The interpreter never writes its arguments, so it follows scheme 2.

Gradients (scheme 1 only): each new `.grad` a variant computes is written into one array per
parameter that the variant allocates on its first replay and reuses on every later one, and
the parameter's `.grad` is always the same Tensor wrapping it (its version counter is bumped
per run). A replay thus allocates no gradient memory, and the previous step's gradients are
not alive beside the new ones; a `.grad` tensor kept from an earlier replayed step is
overwritten by the next one (as with zero_grad(set_to_none=False)). A gradient that is also
returned, guarded or written to an argument gets a new array per call as before."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from unified.tracer import gpu_replay, interpret, pipeline
from unified.tracer.record import Recording, _root

from unified.random import default_generator, state_array
from unified.tensor import Tensor, version_counter, wrap

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
        self.grad_outputs = _persistent_grads(rec) if self.in_place else []
        self.kept: dict[int, Tensor] = {}  # output index -> persistent .grad tensor

    def run(self, rec: Recording, flat: list[Tensor]) -> Result:
        inputs = _inputs(rec, self.inputs, flat, contiguous=True)
        arrays = rec.arrays  # written params are C-contiguous when in place (checked above)
        params = [_dense(arrays[i]) for i in self.params]
        kept = self.kept
        if len(kept) < len(self.grad_outputs):
            for k in self.grad_outputs:
                if k not in kept:
                    meta = self.exe.graph.outputs[k].meta
                    kept[k] = wrap(np.empty(tuple(meta.shape), meta.dtype))
        outputs, _ = self.exe.run(inputs, params, {k: t._data for k, t in kept.items()})
        tensors = [kept[k] if k in kept else wrap(a)
                   for k, a in enumerate(outputs[:self.n_outputs])]
        for t in kept.values():  # written in place: saved copies of the old value notice
            version_counter(t)[0] += 1
        if self.in_place:
            return Result(tensors, [], self.write_params)
        extra = outputs[self.n_outputs:]
        return Result(tensors, list(zip(self.write_params, extra)), self.write_params)

    def release_grads(self, rec: Recording, flat: list[Tensor]) -> None:
        """Before a run without guards: drop each .grad the run replaces (as eager's zero_grad
        does). Before the first run, a dropped gradient that fits (a plain C-contiguous array
        of the output's shape and dtype, owning its data, no state's memory) becomes the
        persistent buffer itself, so old and new gradients are never alive together."""
        taken = None  # ids of state arrays, then each adopted array: built when first needed
        for owner, action in rec.grads:
            if action == "keep":
                continue
            owner = grad_owner(owner, flat)
            old, owner.grad = owner.grad, None
            if action in self.grad_outputs and action not in self.kept:
                if taken is None:
                    taken = {id(_root(a)) for a in rec.arrays}
                if not _fits(old, self.exe.graph.outputs[action].meta, taken):
                    continue
                self.kept[action] = old
                taken.add(id(old._data))


def _fits(t: Tensor | None, meta: Any, taken: set[int]) -> bool:
    if t is None or t.requires_grad or t._grad_fn is not None:
        return False
    a = t._data
    return (type(a) is np.ndarray and a.base is None and a.flags.c_contiguous
            and a.flags.writeable and a.shape == tuple(meta.shape)
            and a.dtype == np.dtype(meta.dtype) and id(a) not in taken)


def grad_owner(owner: Tensor | int, flat: list[Tensor]) -> Tensor:
    """The tensor whose .grad a Recording.grads entry sets: a state tensor, or this call's
    argument at that flat position."""
    return flat[owner] if isinstance(owner, int) else owner


def release_grads(rec: Recording, flat: list[Tensor], backend: str, name: str) -> None:
    """trace.py calls this before a replay without guards: the .grad tensors the run replaces
    are freed first (or, by the plan, reused as its persistent gradient buffers)."""
    runner = None if gpu_replay.replay_backend(rec, []) else compiled(rec, backend, name)
    if isinstance(runner, PlanReplay):
        runner.release_grads(rec, flat)
        return
    for owner, action in rec.grads:
        if action != "keep":
            grad_owner(owner, flat).grad = None


def _persistent_grads(rec: Recording) -> list[int]:
    """The output indices holding a new .grad that nothing else hands out: not returned to
    the caller, not guarded, not written back to an argument, not shared by two owners."""
    taken: list[int] = []
    _spec_outputs(rec.out_spec, taken)
    taken += range(rec.guard_start, rec.guard_start + len(rec.guards))
    taken += [k for _, k in rec.input_writes]
    grads = [a for _, a in rec.grads if isinstance(a, int) and not isinstance(a, bool)]
    refs = [rec.graph.outputs[k] for k in grads]
    return [k for k, r in zip(grads, refs) if k not in taken and refs.count(r) == 1]


def _spec_outputs(spec: Any, found: list[int]) -> None:
    """The output indices an out_spec (record.py `_spec`) hands to the caller."""
    kind = spec[0]
    if kind == "out":
        found.append(spec[1])
    elif kind is dict:
        for s in spec[2]:
            _spec_outputs(s, found)
    elif kind in (tuple, list):
        for s in spec[1]:
            _spec_outputs(s, found)


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
    if gpu_replay.replay_backend(rec, flat) is not None:  # tensors on "cuda"
        return gpu_replay.run(rec, flat)
    runner = compiled(rec, backend, name)
    if runner == "interpret":
        return run_interpreted(rec, flat)
    return runner.run(rec, flat)
