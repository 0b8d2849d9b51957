"""Dynamic batch for the bundle (format 2, export/FORMAT.md "Dynamic batch"): which integers of
a lowered plan move with the batch size N, and how. export/bundle.py writes the result with
export/bundle_encode.py; core_cpp/bundle/bundle_batch.cpp evaluates it at another N.

Steps (`fit_batch`):
 1. Freeze and compile the function at three batch sizes: the example's N0 (the saved plan),
    N0 + 1 and N0 + 3 (every tensor argument's rows repeated cyclically along axis 0).
 2. Name each arena buffer of the memory plan (one per in-place group, in the planner's own
    order) by lowering once more with group g placed at byte g * 2^40: every arena operand's
    offset then reads as (buffer, offset inside it).
 3. Walk each lowered plan into fixed facts (ops, kernels, storages, dtypes, ranks, attr keys,
    float and string attrs, constants, buffer lifetimes) and integers (shapes, strides, byte
    offsets, int attrs, buffer sizes), each under a path such as steps[3].inputs[1].shape[0].
    The fixed facts must be equal at all three sizes, else ExportError naming the path.
 4. Each integer must be affine in N: slope a = (v1 - v0) / (N1 - N0) an integer and
    v2 = v0 + a * (N2 - N0); else ExportError naming the path, the step and the values.
 5. Every input must have the batch as its dim 0 (slope 1, value N).
Limits: three samples prove affinity only at those sizes (the runtime re-checks every operand
against its storage at each N it plans, so a wrong fit cannot read out of bounds, only give
wrong numbers); the batch is one symbol shared by every input."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unified.errors import ExportError
from unified.export.freeze import InferenceGraph, inference_graph
from unified.tensor import Tensor
from unified.tracer import lower as lowering
from unified.tracer import pipeline
from unified.tracer.lower import ARENA
from unified.tracer.passes import memory_plan as mp

SAMPLE_STEPS = (0, 1, 3)  # N0 + these (step 1)
BUFFER_TAG = 1 << 40  # step 2: arena buffer g is placed at g * BUFFER_TAG
DEFAULT_MAX_BATCH = 4096


@dataclasses.dataclass
class BatchPlan:
    """The saved plan's batch facts: `slopes` maps an integer's path to its slope (non-zero
    only); `buffers` are (offset, nbytes, nbytes slope, first step, last step) at N = saved;
    `operand_buffers` maps an arena operand's path to its buffer index."""

    saved: int
    max: int
    slopes: dict[str, int]
    buffers: list[tuple[int, int, int, int, int]]
    operand_buffers: dict[str, int]

    def slope(self, path: str) -> int:
        return self.slopes.get(path, 0)


@dataclasses.dataclass
class _Sample:
    """One batch size's plan: its fixed facts and its integers, each under a field path."""

    n: int
    fixed: list[tuple[str, Any]]
    ints: dict[str, int]
    labels: list[str]
    buffer_offsets: list[int]  # where the planner put each buffer (need not be affine)


def example_batch(example: Sequence[Any], where: str) -> int:
    """The batch of the example: dim 0 of every tensor argument, which must agree."""
    batch = None
    for k, arg in enumerate(example):
        if not isinstance(arg, Tensor):
            continue
        if arg.ndim == 0:
            raise ExportError(f"{where}: dynamic_batch: argument {k} is a scalar tensor; every "
                              "tensor argument needs the batch as its dim 0")
        if batch is None:
            batch = arg.shape[0]
        elif arg.shape[0] != batch:
            raise ExportError(f"{where}: dynamic_batch: the tensor arguments' dim 0 differ "
                              f"({batch} and {arg.shape[0]} for argument {k}); all batch-dynamic "
                              "inputs must agree on the batch")
    if batch is None or batch < 1:
        raise ExportError(f"{where}: dynamic_batch: no tensor argument with a batch of at least "
                          "1 in the example")
    return batch


def batched_example(example: Sequence[Any], n: int) -> tuple:
    """The example's tensor arguments at batch n: rows taken cyclically along axis 0."""
    out = []
    for arg in example:
        if isinstance(arg, Tensor):
            rows = np.take(np.asarray(arg._data), np.arange(n) % arg.shape[0], axis=0)
            arg = Tensor(np.ascontiguousarray(rows))
        out.append(arg)
    return tuple(out)


def fit_batch(fn: Callable[..., Any], example: Sequence[Any], output_names: Any,
              max_batch: int | None, first: tuple[InferenceGraph, Any]) -> BatchPlan:
    """Steps 1-5 (see the module doc). `first` is the (graph, Executable) the caller already
    compiled at the example's batch: it is the saved plan."""
    ig0, exe0 = first
    where = f"save_bundle({ig0.name})"
    n0 = example_batch(example, where)
    max_batch = DEFAULT_MAX_BATCH if max_batch is None else max_batch
    if not isinstance(max_batch, int) or not n0 <= max_batch <= 1 << 31:
        raise ValueError(f"{where}: max_batch={max_batch!r} must be an int in {n0}..2^31 (at "
                         f"least the example's batch {n0})")
    samples = [_sample(n0, exe0)]
    for step in SAMPLE_STEPS[1:]:
        n = n0 + step
        ig = inference_graph(fn, batched_example(example, n), output_names=output_names)
        samples.append(_sample(n, pipeline.compile(ig.graph)))
    _same_structure(samples, where)
    slopes = _fit(samples, where)
    for k, name in enumerate(ig0.input_names):
        value, slope = samples[0].ints.get(f"inputs[{k}].shape[0]"), slopes.get(
            f"inputs[{k}].shape[0]", 0)
        if value != n0 or slope != 1:
            raise ExportError(f"{where}: dynamic_batch: input {name!r} does not carry the batch "
                              f"as its dim 0")
    s0 = samples[0]
    fixed = dict(s0.fixed)
    buffers = [(offset, s0.ints[f"buffers[{g}].nbytes"], slopes.get(f"buffers[{g}].nbytes", 0),
                *fixed[f"buffers[{g}].life"]) for g, offset in enumerate(s0.buffer_offsets)]
    operand_buffers = {path[:-len(".buffer")]: value for path, value in s0.fixed
                       if path.endswith(".buffer")}
    return BatchPlan(n0, max_batch, slopes, buffers, operand_buffers)


# ---- steps 2-3 -------------------------------------------------------------------------------
def _sample(n: int, exe: Any) -> _Sample:
    memory = exe.memory
    arena = {ref: memory.sizes[ref] for ref in memory.offsets}
    # the planner's own grouping (memory_plan step 5), so buffers match its placement exactly
    root, sizes, spans = mp._groups(arena, memory.lifetimes, memory.reuses)
    index = {r: g for g, r in enumerate(sizes)}
    tagged = dataclasses.replace(memory, offsets={ref: index[root[ref]] * BUFFER_TAG
                                                  for ref in memory.offsets})
    named = lowering.describe(exe.graph, tagged)
    lowered = exe.lowered
    fixed: list[tuple[str, Any]] = []
    ints: dict[str, int] = {}
    placed = {root[ref]: offset for ref, offset in memory.offsets.items()}
    starts = [placed[r] for r in sizes]  # buffer g's offset in the arena
    for g, r in enumerate(sizes):
        ints[f"buffers[{g}].nbytes"] = sizes[r]
        fixed.append((f"buffers[{g}].life", spans[r]))
    for side, specs in (("inputs", lowered.inputs), ("outputs", lowered.outputs)):
        for k, (shape, dtype) in enumerate(specs):
            fixed.append((f"{side}[{k}]", (dtype, len(shape))))
            _shape(ints, f"{side}[{k}].shape", shape)
    fixed.append(("consts", len(lowered.consts)))
    for k, (name, a) in enumerate(zip(lowered.const_names, lowered.consts)):
        digest = hashlib.sha256(a.tobytes()).hexdigest()[:12]
        fixed.append((f"consts[{k}]", (name, a.dtype.name, a.shape, f"sha256 {digest}")))
    fixed.append(("steps", len(lowered.steps)))
    for s, (step, tag_step) in enumerate(zip(lowered.steps, named.steps)):
        at = f"steps[{s}]"
        fixed.append((at, (step.op.name, step.kernel, len(step.inputs), len(step.outputs))))
        for side, ops, tag_ops in (("inputs", step.inputs, tag_step.inputs),
                                   ("outputs", step.outputs, tag_step.outputs)):
            for k, (op, tag_op) in enumerate(zip(ops, tag_ops)):
                _operand(fixed, ints, f"{at}.{side}[{k}]", op, tag_op, starts)
        for name, value in (step.attrs or {}).items():
            _attr(fixed, ints, f"{at}.attrs.{name}", value)
    return _Sample(n, fixed, ints, [s.label for s in lowered.steps], starts)


def _shape(ints: dict[str, int], path: str, values: Sequence[int]) -> None:
    for d, v in enumerate(values):
        ints[f"{path}[{d}]"] = int(v)


def _operand(fixed: list, ints: dict[str, int], at: str, op: Any, tag_op: Any,
             starts: list[int]) -> None:
    """An operand's facts; an arena operand's byte_offset integer is its offset inside its
    buffer (the buffer's own place is re-planned, not fitted)."""
    fixed.append((at, (op.storage, op.slot, op.dtype, len(op.shape))))
    _shape(ints, f"{at}.shape", op.shape)
    _shape(ints, f"{at}.strides", op.strides)
    ints[f"{at}.byte_offset"] = op.byte_offset
    if op.storage == ARENA:
        buffer, inner = divmod(tag_op.byte_offset, BUFFER_TAG)
        if starts[buffer] + inner != op.byte_offset:
            raise ExportError(f"save_bundle: plan.{at}: arena byte {op.byte_offset} is not "
                              f"inside buffer {buffer} at {starts[buffer]} (internal error)")
        fixed.append((f"{at}.buffer", buffer))
        ints[f"{at}.byte_offset"] = inner


def _attr(fixed: list, ints: dict[str, int], path: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        ints[path] = value
    elif isinstance(value, (tuple, list)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        fixed.append((path, ("ints", len(value))))
        _shape(ints, path, value)
    else:
        fixed.append((path, value))


# ---- steps 3-4 -------------------------------------------------------------------------------
def _same_structure(samples: list[_Sample], where: str) -> None:
    s0 = samples[0]
    for s in samples[1:]:
        for (path, v0), (path_n, vn) in zip(s0.fixed, s.fixed):
            if path != path_n or not _equal(v0, vn):
                raise ExportError(f"{where}: dynamic_batch: the plan changes with the batch at "
                                  f"{_describe(path, s0)}: {_short(v0)} at batch {s0.n}, "
                                  f"{_short(vn)} at batch {s.n}; only graphs whose structure "
                                  "does not depend on the batch size can be dynamic")
        if len(s0.fixed) != len(s.fixed) or s0.ints.keys() != s.ints.keys():
            raise ExportError(f"{where}: dynamic_batch: the plan at batch {s.n} has another "
                              f"structure than at batch {s0.n}")


def _fit(samples: list[_Sample], where: str) -> dict[str, int]:
    """{path: slope} for every integer (step 4)."""
    (n0, s0), (n1, s1), (n2, s2) = ((s.n, s) for s in samples)
    slopes = {}
    for path, v0 in s0.ints.items():
        v1, v2 = s1.ints[path], s2.ints[path]
        slope, rest = divmod(v1 - v0, n1 - n0)
        if rest or v0 + slope * (n2 - n0) != v2:
            raise ExportError(f"{where}: dynamic_batch: {_describe(path, s0)} is not affine in "
                              f"the batch N (a * N + b): {v0} at N={n0}, {v1} at N={n1}, {v2} at "
                              f"N={n2}; such a graph can only be exported at a fixed batch")
        if slope:
            slopes[path] = slope
    return slopes


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(path: str, sample: _Sample) -> str:
    """The path, with the step's graph line when it is inside a step."""
    if path.startswith("consts"):
        return (f"plan.{path} (a constant depends on the batch, e.g. a tensor made from "
                "x.shape)")
    if path.startswith("steps["):
        k = int(path[6:path.index("]")])
        if k < len(sample.labels):
            return f"plan.{path} ({sample.labels[k]})"
    return f"plan.{path}"
