"""BatchNorm folding (inference only: the export pipeline runs it, training graphs never do): an
eval-mode `batch_norm` whose input is the output of a `conv2d` or `linear` with constant
weights is merged into that conv/linear's weight and bias, so one op and one tensor go away.

Algorithm:
  1. A candidate is a call B of `batch_norm` (unified/ops/nn.py: inputs x, running_mean,
     running_var, weight, bias; outputs y, mean, invstd) with training=0, whose outputs 1 and 2
     nobody reads (no node, graph output or write), and whose x is output 0 of a call P of
     `conv2d` (unified/ops/conv.py) or `linear` (unified/ops/matmul.py) such that:
       - P's only user is B and P's output is not a graph output or written value;
       - the channel axis of B (axis 1) is P's output-channel axis: always for conv2d (N, O,
         H, W); for linear only when its output is 2-D (N, C), i.e. BatchNorm1d on (N, C);
       - P's weight and bias and B's four vectors are float32 `const` nodes. A missing bias is
         a const already (unified/creation.py zero_bias), as are BatchNorm(affine=False)'s
         ones/zeros weight and bias (unified/functional/norm.py).
  2. In float64, per output channel o: s = gamma / sqrt(var + eps), W'[o] = W[o] * s,
     b' = (b - mean) * s + beta; both cast to float32 and added as new consts before P.
  3. A new call of P's op with (x, W', b') and P's attrs, metas and source takes P's place;
     B's output 0 uses move to it; B and P are removed, then every const left without users.
     W' and b' take the names of W and b when those are removed (exporters name initializers
     after consts: "model.0.weight" stays), else `<name>_folded`.

Numbers change by float32 rounding only (W' and b' are rounded once). Limits: BN directly after
the conv/linear (not through a reshape or an activation); conv_transpose2d, matmul + add and
non-const (param) weights are left alone; training-mode BN never folds."""

from __future__ import annotations

import numpy as np
from unified.tracer.graph import Graph, Node, Ref

from unified.ops.conv import conv2d
from unified.ops.matmul import linear
from unified.ops.nn import batch_norm

_F32 = np.dtype(np.float32)


def run(graph: Graph) -> Graph:
    """A copy of `graph` with every (conv2d | linear, eval batch_norm) pair of step 1 folded."""
    out = graph.copy()
    for producer, bn in pairs(out):
        _fold(out, producer, bn)
    return out


def pairs(graph: Graph) -> list[tuple[Node, Node]]:
    """Step 1: (conv2d or linear node, batch_norm node) pairs, in graph order."""
    live = graph.live_refs()
    found = []
    for bn in graph.calls():
        if bn.op is not batch_norm or bool(bn.attrs.get("training", 1)):
            continue
        if any(r.node is bn and r.index > 0 for r in live) or any(
                r.node is bn and r.index > 0 for user in bn.users for r in user.inputs):
            continue
        x = bn.inputs[0]
        producer = x.node
        if producer.kind != "call" or producer.op not in (conv2d, linear) or x in live:
            continue
        if producer.users != [bn]:
            continue
        if producer.op is linear and len(producer.metas[0].shape) != 2:
            continue  # BN's channel axis 1 is not linear's output-feature (last) axis
        if all(_is_f32_const(r) for r in producer.inputs[1:] + bn.inputs[1:]):
            found.append((producer, bn))
    return found


def _is_f32_const(ref: Ref) -> bool:
    return ref.node.kind == "const" and ref.node.value.dtype == _F32


def folded_weights(weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
                   gamma: np.ndarray, beta: np.ndarray, eps: float) -> tuple[np.ndarray, ...]:
    """Step 2: (W', b') in float32 from float64 arithmetic; weight's axis 0 is the channel."""
    f64 = [np.asarray(a, np.float64) for a in (weight, bias, mean, var, gamma, beta)]
    weight, bias, mean, var, gamma, beta = f64
    scale = gamma / np.sqrt(var + float(eps))
    new_weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    new_bias = (bias - mean) * scale + beta
    return new_weight.astype(np.float32), new_bias.astype(np.float32)


def _fold(graph: Graph, producer: Node, bn: Node) -> None:
    """Steps 2-3."""
    x, weight, bias = producer.inputs
    mean, var, gamma, beta = (r.node.value for r in bn.inputs[1:])
    eps = bn.attrs.get("eps", batch_norm.attrs["eps"])
    new_weight, new_bias = folded_weights(weight.node.value, bias.node.value, mean, var, gamma,
                                          beta, eps)
    w_node = graph.add_const(new_weight, before=producer)
    b_node = graph.add_const(new_bias, before=producer)
    folded = graph.add_call(producer.op, (x, w_node.ref(), b_node.ref()), producer.attrs,
                            metas=bn.metas[:1], source=producer.source)
    graph.nodes.pop()
    graph.nodes.insert(graph.nodes.index(producer), folded)
    folded.meta["folded"] = [producer.op.name, bn.op.name]
    graph.replace_uses(bn.ref(0), folded.ref())
    graph.remove(bn)
    graph.remove(producer)
    for ref in (weight, bias) + bn.inputs[1:]:
        if ref.node.kind == "const" and not ref.node.users and ref.node in graph.nodes:
            graph.remove(ref.node)
    taken = {n.name for n in graph.nodes}
    for new, old in ((w_node, weight.node), (b_node, bias.node)):
        new.name = _unused_name(taken, old.name)
        taken.add(new.name)


def _unused_name(taken: set[str], name: str) -> str:
    """`name` when no node has it (its const was removed), else `<name>_folded[k]`."""
    candidate, k = name, 0
    while candidate in taken:
        k += 1
        candidate = f"{name}_folded" + (str(k) if k > 1 else "")
    return candidate
