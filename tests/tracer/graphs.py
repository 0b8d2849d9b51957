"""Hand-built graph helpers shared by the tracer tests: metas, call nodes by op name, and
random elementwise/view graphs for property tests of the memory planner and passes."""

from __future__ import annotations

import random

import numpy as np
from unified.tracer.graph import Graph, Ref, TensorMeta

from unified.ops import lookup

F32 = np.dtype(np.float32)


def meta(*shape: int, dtype=F32) -> TensorMeta:
    return TensorMeta(tuple(shape), np.dtype(dtype))


def call(g: Graph, name: str, *refs, **attrs) -> Ref:
    """Add a call of the registered op `name`; refs may be Refs or nodes."""
    return g.add_call(lookup(name), tuple(r if isinstance(r, Ref) else r.ref() for r in refs),
                      attrs or None).ref()


def random_graph(rng: random.Random) -> Graph:
    """3-25 unary/binary elementwise ops, permutes and reshapes over one (4|8, 16) input."""
    g = Graph("random")
    refs = [g.add_input("x", meta(rng.choice([4, 8]), 16)).ref()]
    for _ in range(rng.randint(3, 25)):
        kind = rng.random()
        a = rng.choice(refs[-6:])
        if kind < 0.45:
            refs.append(call(g, rng.choice(["relu", "exp", "neg", "tanh"]), a))
        elif kind < 0.75:
            b = rng.choice([r for r in refs if r.meta.shape == a.meta.shape])
            refs.append(call(g, rng.choice(["add", "mul", "sub"]), a, b))
        elif kind < 0.9:
            refs.append(call(g, "permute", a, dims=(1, 0)))
        else:
            refs.append(call(g, "reshape", a, shape=tuple(reversed(a.meta.shape))))
    g.set_outputs(rng.sample(refs[1:], k=min(2, len(refs) - 1)))
    return g
