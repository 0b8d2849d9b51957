"""Constant folding: a pure call whose inputs are all consts is evaluated once, now, and
becomes a const.

Algorithm:
  1. Walk the call nodes in order. A call folds when its op is pure (neither Trait.RANDOM nor
     Trait.SIDE_EFFECT) and every input is a const node (a pure op with no inputs folds too).
  2. Skip it when its results would hold more than MAX_BYTES (1 MiB) in all: a large constant
     costs more in the graph, the arena and a saved bundle than the op costs at run time
     (e.g. expanding a scalar to a big shape). Its inputs stay consts.
  3. Evaluate it through unified.dispatch.apply on read-only tensors over the consts' data,
     gradient recording off: the same kernel as eager, so the folded value is bit-identical
     to what eager and the interpreter compute.
  4. Each result becomes a const (an owned, C-contiguous copy) placed where the call was,
     with the call's source line; every use is pointed at it and the call is removed.
     Folding in order makes whole constant chains fold in one pass.

Limits: consts left without users are not removed here (run dce after); no algebraic
rewriting, so (x * 2) * 3 keeps both multiplications."""

from __future__ import annotations

import numpy as np

from unified.dispatch import apply
from unified.errors import USER_ERRORS
from unified.grad_mode import set_grad_enabled
from unified.tracer.graph import Graph, Node
from unified.tracer.interpret import const_tensor
from unified.tracer.passes import is_pure

MAX_BYTES = 1 << 20


def run(graph: Graph, max_bytes: int = MAX_BYTES) -> Graph:
    """A copy of `graph` with every foldable call (see the module doc) replaced by consts."""
    out = graph.copy()
    for node in list(out.calls()):
        if _foldable(node, max_bytes):
            _fold(out, node)
    return out


def _foldable(node: Node, max_bytes: int) -> bool:
    if not is_pure(node.op) or any(r.node.kind != "const" for r in node.inputs):
        return False
    size = sum(int(np.prod(m.shape, dtype=np.int64)) * np.dtype(m.dtype).itemsize
               for m in node.metas)
    return size <= max_bytes


def _fold(graph: Graph, node: Node) -> None:
    """Evaluate `node` on its consts and put one const per result in its place."""
    args = tuple(const_tensor(r.node.value) for r in node.inputs)
    try:
        with set_grad_enabled(False):
            result = apply(node.op, args, node.attrs or None)
    except USER_ERRORS as exc:
        where = f" (recorded at {node.source})" if node.source else ""
        exc.add_note(f"  while folding {node.ref_name()} = {node.op.name} in graph "
                     f"{graph.name}{where}")
        raise
    results = result if isinstance(result, tuple) else (result,)
    for index, tensor in enumerate(results):
        value = np.array(tensor._data, order="C", copy=True)
        const = graph.add_const(value, before=node)
        const.source = node.source
        graph.replace_uses(node.ref(index), const.ref())
    graph.remove(node)
