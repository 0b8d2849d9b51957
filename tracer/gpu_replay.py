"""Replaying a traced variant on the GPU: the same optimized graph, memory plan and lowered steps
as the CPU `_core` plan (tracer/pipeline.py, tracer/lower.py describe), executed by a Python
loop over device views into ONE device arena allocated from the plan's arena size.

Algorithm:
  1. Build (once per variant): optimize the graph, turn writes into extra outputs (scheme 2 of
     tracer/replay.py: trace.py commits them), run the in-place pass, plan memory and describe
     the steps. Allocate the arena (arena_bytes, one xp allocation), upload the consts, and make
     the views of every arena and const operand once (byte offset, dtype, shape, strides as the
     CPU plan reads them).
  2. Run: outputs are fresh device arrays; input and param operands are views of the caller's
     device arrays. Each step calls its op's GPU implementation (OpDef.gpu) on the input views
     and writes the results into the output views; a fused_elementwise step runs its generated
     CUDA kernel (tracer/codegen_cuda.py) when the backend compiles kernels (CuPy), else the
     same program through OpDef.gpu; a copy step (attrs None) is a device copy.
  3. The results become a replay.Result (outputs, then the written values in write order).
Limits: steps are launched from Python (no CUDA graphs); each OpDef.gpu result is computed into
CuPy's pool and then copied into its arena view (one extra device copy per non-fused step);
host-side inputs (generator state) are read on the host per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from unified.tracer import lower as lowering
from unified.tracer import pipeline
from unified.tracer.graph import Graph
from unified.tracer.passes import inplace
from unified.tracer.passes import memory_plan as mp

from unified.devices import Backend, backend_of, cuda_backend
from unified.ops.fused import fused_elementwise
from unified.ops.registry import lookup
from unified.tensor import Tensor, wrap

_CAST = lookup("cast")
ARENA, INPUT, PARAM, OUTPUT, CONST = (lowering.ARENA, lowering.INPUT, lowering.PARAM,
                                      lowering.OUTPUT, lowering.CONST)


def _span_bytes(shape, strides, itemsize: int) -> int:
    if 0 in shape:
        return 0
    return (sum((n - 1) * s for n, s in zip(shape, strides)) + 1) * itemsize


def device_view(xp: Any, buffer: Any, operand: lowering.Operand) -> Any:
    """The array an operand names inside `buffer` (a C-contiguous device array of any dtype):
    operand.byte_offset, dtype, shape and strides (in elements)."""
    dtype = np.dtype(operand.dtype)
    shape, strides = tuple(operand.shape), tuple(operand.strides)
    if 0 in shape:
        return xp.empty(shape, dtype)
    byte_strides = tuple(s * dtype.itemsize for s in strides)
    if xp is np:
        flat = np.asarray(buffer).reshape(-1).view(np.uint8)
        span = _span_bytes(shape, strides, dtype.itemsize)
        start = flat[operand.byte_offset:operand.byte_offset + span].view(dtype)
        return np.lib.stride_tricks.as_strided(start, shape, byte_strides)
    return xp.ndarray(shape, dtype, memptr=buffer.data + operand.byte_offset,
                      strides=byte_strides)


class GpuPlan:
    """Steps 1-2 for one graph on one device backend."""

    def __init__(self, graph: Graph, backend: Backend) -> None:
        self.backend = backend
        xp = self.xp = backend.xp
        optimized = pipeline.optimize(graph).copy()
        self.n_outputs = len(optimized.outputs)
        optimized.set_outputs(optimized.outputs + [r for _, r in optimized.writes])
        optimized.writes = []
        optimized = inplace.run(optimized)
        self.graph = optimized
        self.memory = mp.plan(optimized)
        self.lowered = lowering.describe(optimized, self.memory)
        self.arena = xp.empty(max(self.lowered.arena_bytes, 1), np.uint8)
        self.consts = [backend.from_host(np.ascontiguousarray(c)) for c in self.lowered.consts]
        self.kernels: dict[int, Any] = {}
        self.fixed: dict[tuple[int, int], Any] = {}
        for k, step in enumerate(self.lowered.steps):
            for j, operand in enumerate(step.inputs + step.outputs):
                if operand.storage == ARENA:
                    self.fixed[k, j] = device_view(xp, self.arena, operand)
                elif operand.storage == CONST:
                    self.fixed[k, j] = device_view(xp, self.consts[operand.slot], operand)

    def _view(self, k: int, j: int, operand: lowering.Operand, slots: dict) -> Any:
        fixed = self.fixed.get((k, j))
        if fixed is not None:
            return fixed
        return device_view(self.xp, slots[operand.storage][operand.slot], operand)

    def run(self, inputs: list, params: list) -> list:
        """Device arrays of the outputs (graph outputs, then written values)."""
        xp = self.xp
        outputs = [xp.empty(shape, np.dtype(dtype)) for shape, dtype in self.lowered.outputs]
        slots = {INPUT: inputs, PARAM: params, OUTPUT: outputs}
        for k, step in enumerate(self.lowered.steps):
            n_in = len(step.inputs)
            ins = [self._view(k, j, o, slots) for j, o in enumerate(step.inputs)]
            outs = [self._view(k, n_in + j, o, slots) for j, o in enumerate(step.outputs)]
            try:
                self._step(k, step, ins, outs)
            except Exception as exc:
                exc.add_note(f"  while running step {k} on the GPU: {step.label}")
                raise
        return [self.backend.adopt(o) for o in outputs]

    def _step(self, k: int, step: lowering.LoweredStep, ins: list, outs: list) -> None:
        xp = self.xp
        op = step.op
        if step.attrs is None and op is _CAST:  # a copy step (cast without attrs)
            outs[0][...] = ins[0]
            return
        if op is fused_elementwise and self.backend.compiles_kernels:
            kernel = self.kernels.get(k)
            if kernel is None:
                from unified.tracer import codegen_cuda

                kinds = codegen_cuda.input_kinds([tuple(a.shape) for a in ins])
                kernel = self.kernels[k] = codegen_cuda.FusedKernel(xp, step.attrs, kinds)
            dense = [a if a.ndim == 0 or a.flags.c_contiguous else xp.ascontiguousarray(a)
                     for a in ins]
            kernel(xp, dense, outs[0])
            return
        result = op.gpu(xp, tuple(ins), {**op.attrs, **(step.attrs or {})})
        results = result if op.num_outputs > 1 else (result,)
        for out, value in zip(outs, results):
            out[...] = value


def replay_backend(rec: Any, flat: list[Tensor]) -> Backend | None:
    """The device backend of a variant's arguments and state (None when all are on the CPU)."""
    for t in flat:
        if isinstance(t, Tensor) and backend_of(t._data) is not None:
            return backend_of(t._data)
    for a in rec.arrays:
        if backend_of(a) is not None:
            return backend_of(a)
    return None


def run(rec: Any, flat: list[Tensor]) -> Any:
    """A variant replayed on the GPU as a replay.Result (step 3); the GpuPlan is built on the
    first call and kept on the Recording (rec.compiled)."""
    from unified.tracer import replay

    backend = replay_backend(rec, flat) or cuda_backend()
    runner = rec.compiled
    if not isinstance(runner, GpuPlan):
        runner = rec.compiled = GpuPlan(rec.graph, backend)
    xp = backend.xp
    dense = [a if a.ndim == 0 or a.flags.c_contiguous else xp.ascontiguousarray(a)
             for a in (_on(backend, a) for a in replay._inputs(rec, runner.graph.inputs(), flat,
                                                               contiguous=False))]
    index = {node.id: i for i, node in enumerate(rec.graph.params())}
    params = [_on(backend, rec.arrays[index[n.id]]) for n in runner.graph.params()]
    outputs = runner.run(dense, params)
    tensors = [wrap(a) for a in outputs[:runner.n_outputs]]
    written = [index[p.id] for p, _ in rec.graph.writes]
    values = [v if backend_of(rec.arrays[i]) is not None else backend.to_host(v)
              for i, v in zip(written, outputs[runner.n_outputs:])]  # host state stays host
    return replay.Result(tensors, list(zip(written, values)), written)


def _on(backend: Backend, array: Any) -> Any:
    """`array` on the backend's device (host arrays such as the generator state are copied)."""
    if backend_of(array) is backend:
        return array
    return backend.from_host(np.ascontiguousarray(array))


__all__ = ["GpuPlan", "device_view", "replay_backend", "run"]
