"""Linear + activation fusion: a `linear` call whose output is read only by a one-input
fusable activation (relu, gelu, leaky_relu, clamp, ...) becomes one `fused_linear` call
(unified/ops/fused_linear.py): the GEMM's output gets the activation while it is in cache,
and one intermediate tensor and one kernel step go away.

Algorithm:
  1. A candidate pair is a call L whose OpDef is `linear` (unified/ops/matmul.py) with a
     float32 output, and its only user A: a node that tracer/passes/fuse.py would fuse
     (`fuse.fusable`: `fuse_params`, Trait.ELEMENTWISE, float32) with exactly one input, L's
     output. L's output must not be a graph output or a written value (the outside world
     would read the value before the activation).
  2. Each pair becomes `fused_linear(x, W, b, activation=A.op.name, p0, p1)`, with p0, p1
     the activation's attrs as the fused engine reads them (`fuse.fuse_values`), placed at
     A's position with A's metas and source; A's uses move to it; A and L are removed.

In training, relu's gradient reads relu's output (unified/ops/elementwise.py), so the
pre-activation dies at the relu and the pair fuses in forward+backward graphs too. Limits:
only `linear` (not matmul + add); one activation per GEMM (a chain after it is left to
fuse.py); run it before fuse.py, which would otherwise leave the activation alone anyway (a
group needs two ops) but might take it into a longer chain. `pairs` and `replace_pair` take
the producer op and the fused op, so tracer/passes/fuse_conv.py runs the same two steps for
conv2d -> fused_conv2d."""

from __future__ import annotations

import numpy as np
from unified.tracer.graph import Graph, Node, Ref
from unified.tracer.passes import fuse

from unified.ops.fused_linear import fused_linear
from unified.ops.matmul import linear
from unified.ops.registry import OpDef

_F32 = np.dtype(np.float32)


def run(graph: Graph) -> Graph:
    """A copy of `graph` with every (linear, activation) pair of step 1 as one fused_linear."""
    out = graph.copy()
    for lin, act in pairs(out):
        replace_pair(out, lin, act, fused_linear)
    return out


def pairs(graph: Graph, producer: OpDef = linear) -> list[tuple[Node, Node]]:
    """Step 1: (producer node, activation node) pairs, in graph order; `producer` is the op
    whose output the activation reads (`linear` here, `conv2d` in fuse_conv.py)."""
    live = graph.live_refs()
    found = []
    for node in graph.calls():
        if node.op is not producer or node.metas[0].dtype != _F32 or Ref(node) in live:
            continue
        users = list(dict.fromkeys(node.users))
        if len(users) != 1:
            continue
        act = users[0]
        if (len(act.inputs) == 1 and act.inputs[0] == Ref(node) and fuse.fusable(act)
                and act.metas[0].shape == node.metas[0].shape):
            found.append((node, act))
    return found


def replace_pair(graph: Graph, node: Node, act: Node, fused_op: OpDef) -> None:
    """Step 2: one `fused_op` call with node's inputs and attrs plus activation, p0, p1."""
    p0, p1 = fuse.fuse_values(act.op, act.attrs)
    attrs = dict(node.attrs, activation=act.op.name, p0=p0, p1=p1)
    fused = graph.add_call(fused_op, node.inputs, attrs, metas=act.metas, source=act.source)
    graph.nodes.pop()
    graph.nodes.insert(graph.nodes.index(act), fused)
    fused.meta["fused"] = [node.op.name, act.op.name]
    graph.replace_uses(act.ref(), fused.ref())
    graph.remove(act)
    graph.remove(node)
