"""Batch-size reuse: a call whose signature differs from a cached variant's only in dimension 0
of its tensor arguments reuses that variant's recorded graph, with every call node's metas
re-inferred over the IR for the new sizes (graph.infer_metas), instead of recording anew.
trace.py asks `base` for a cached variant to start from, `derive` for the new Recording (its
own plan and memory plan are built on first replay, so each batch size is cached separately),
and, when the graph may bake the old batch size, validates the derived graph once against a
fresh recording at the new size (`validate`).

Steps:
 1. `compatible`: same argument structure, non-tensor values and training flags; each tensor
    leaf equal, or with the same rank (>= 1), dtype, requires_grad and trailing dims and
    another dim 0. At least one tensor differs.
 2. `derive`: refused (None) for a variant with guards (values read into Python may depend on
    the batch) or random ops (how far the generator advances depends on the numel). Otherwise
    copy the graph, give each input node its argument's new meta and re-run infer_metas node
    by node; a ShapeError (e.g. a reshape whose attrs give the old batch size) refuses.
 3. `baked`: the derived graph is trusted without a recording unless the old batch size
    appears where Python could have baked it: an int attr (also inside tuples), a dim of a
    const, or an int the function returns. Then trace.py records once at the new size and
    `validate` compares op by op (op, attrs, output metas); the verdict is kept on the base
    and derived Recordings (`batch_ok`) so later sizes skip the recording or skip the reuse.

Limits: not detected are an old batch size baked through arithmetic (a reshape to
(2 * B, -1)) that still infers, and Python control flow on a shape (`if x.shape[0] > 16:`):
pass such sizes as -1, or call with a fixed batch size. nn.Flatten's reshape names the batch
size, so a graph through it records anew per size (inference fails, as it should)."""

from __future__ import annotations

import dataclasses
from typing import Any

from unified.tracer.graph import Graph, infer_metas
from unified.tracer.record import Recording

from unified.errors import ShapeError
from unified.ops.registry import TensorMeta


def compatible(old: tuple, new: tuple) -> set[int] | None:
    """Step 1 on two cache keys ((tree, leaves, flags) as trace.py builds them): the old dim-0
    sizes of the tensors that changed, or None when the keys differ otherwise or not at all."""
    if old[0] != new[0] or old[2] != new[2] or len(old[1]) != len(new[1]):
        return None
    sizes = set()
    for a, b in zip(old[1], new[1]):
        if a == b:
            continue
        if not (a[0] == b[0] == "T" and len(a[1]) == len(b[1]) >= 1 and a[1][1:] == b[1][1:]
                and a[2:] == b[2:]):
            return None
        sizes.add(a[1][0])
    return sizes or None


def base(cache: dict, key: tuple) -> tuple[Recording | None, set[int]]:
    """The most recently used variant whose key is `compatible` with `key` (and not shown to
    bake its batch size), with the old sizes; (None, set()) when there is none."""
    for old_key, entry in reversed(cache.items()):
        sizes = compatible(old_key, key)
        if sizes and entry.variants and entry.variants[-1].batch_ok is not False:
            return entry.variants[-1], sizes
    return None, set()


def derive(rec: Recording, flat: list) -> Recording | None:
    """Step 2: `rec` with its graph's metas inferred for the arguments `flat`, or None."""
    if rec.guards or rec.rng or rec.untraceable is not None:
        return None
    graph = rec.graph.copy()
    for node, position in zip(graph.inputs(), rec.input_positions):
        array = flat[position]._data
        node.metas = (TensorMeta(tuple(int(d) for d in array.shape), array.dtype),)
    try:
        for node in graph.calls():
            node.metas = infer_metas(node.op, node.inputs, node.attrs)
    except ShapeError:
        return None
    return dataclasses.replace(rec, graph=graph, initial=[], compiled=None, eager_peak=None)


def baked(rec: Recording, sizes: set[int]) -> bool:
    """Step 3: whether one of the old batch `sizes` appears in an attr, a const's shape or a
    returned Python int of `rec` (so the graph may have baked it)."""
    for node in rec.graph.nodes:
        if node.kind == "const" and sizes & set(node.value.shape):
            return True
        if node.kind == "call" and any(_has_int(v, sizes) for v in node.attrs.values()):
            return True
    return _has_int(_py_values(rec.out_spec), sizes)


def validate(derived: Recording, fresh: Recording) -> bool:
    """Step 3's check: `fresh` (recorded at the new sizes) is traceable and dispatches the
    same ops with the same attrs and metas as `derived`."""
    return fresh.untraceable is None and same_calls(derived.graph, fresh.graph)


def same_calls(derived: Graph, fresh: Graph) -> bool:
    """The two graphs dispatch the same ops with the same attrs and output metas."""
    def calls(graph: Graph) -> list[tuple]:
        return [(n.op.name, repr(n.attrs), tuple((m.shape, str(m.dtype)) for m in n.metas))
                for n in graph.calls()]

    return calls(derived) == calls(fresh)


def _has_int(value: Any, sizes: set[int]) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_has_int(v, sizes) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and value in sizes


def _py_values(spec: Any) -> list:
    if spec[0] == "py":
        return [spec[1]]
    if spec[0] in (tuple, list):
        return [v for s in spec[1] for v in _py_values(s)]
    if spec[0] is dict:
        return [v for s in spec[2] for v in _py_values(s)]
    return []
