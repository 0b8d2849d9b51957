"""Reverse-mode autograd: the Node each recorded op leaves on its outputs, and the engine that
walks nodes in dependency order calling each OpDef.grad (written with registered ops, so the
backward pass goes through the dispatcher like everything else). `backward()` accumulates into
leaf `.grad`; `grad()` returns gradients without touching `.grad`."""

from __future__ import annotations

import weakref
from typing import Any, Sequence

from unified.errors import fmt_shape
from unified.grad_mode import is_grad_enabled, set_grad_enabled
from unified.tensor import version_counter, wrap


class Node:
    """One recorded op application: the op, its input tensors and attrs, the edges to the
    nodes (or leaves) that produced the inputs, and input versions for in-place checks."""

    __slots__ = ("op", "inputs", "attrs", "saved_out", "next", "versions", "retained",
                 "hooks", "__weakref__")

    def __init__(self, op, inputs: tuple, attrs: dict | None, outputs: tuple | None) -> None:
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        # Edges, fixed now (a later in-place op changes a tensor's _grad_fn, not this node's),
        # flat to keep allocations down: per input, (producer node, output index), or
        # (None, leaf tensor) for a leaf that requires grad, or (None, None).
        edges = []
        for t in inputs:
            fn = t._grad_fn
            if fn is not None:
                edges += (fn, t._out_index)
            else:
                edges += (None, t if t.requires_grad else None)
        self.next = edges
        self.versions = [version_counter(t)[0] for t in inputs] if op.saves_inputs else None
        self.saved_out = None if outputs is None else [_shell(t) for t in outputs]
        self.retained = None
        self.hooks = None  # {output index: [tensor gradient hooks]} (Tensor.register_hook)

    def name(self) -> str:
        """PyTorch-style class name: op "log_softmax" -> "LogSoftmaxBackward"."""
        return "".join(part[:1].upper() + part[1:] for part in self.op.name.split("_")) + \
            "Backward"

    @property
    def next_functions(self) -> tuple:
        """Per input, (node that made it, output index), as PyTorch's: a leaf that requires
        grad gives (AccumulateGrad, 0) whose `.variable` is the leaf; anything else (None, 0)."""
        edges = self.next
        result = []
        for k in range(0, len(edges), 2):
            parent, index = edges[k], edges[k + 1]
            if parent is not None:
                result.append((parent, index))
            elif index is not None:
                result.append((AccumulateGrad(index), 0))
            else:
                result.append((None, 0))
        return tuple(result)

    @property
    def metadata(self) -> dict:
        """What anomaly mode recorded when the op ran forward (empty when it was off):
        "file", "line", "function" of the user's code and "module" (dotted path or "")."""
        return dict(CREATED.get(self) or {})

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class AccumulateGrad:
    """The end of a walk through `grad_fn.next_functions`: the leaf (`variable`) whose .grad
    backward() accumulates into."""

    def __init__(self, variable) -> None:
        self.variable = variable
        self.next_functions = ()

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


# Node -> creation site, filled by unified.debug's anomaly mode only (weak: no cost otherwise).
CREATED: "weakref.WeakKeyDictionary[Node, dict]" = weakref.WeakKeyDictionary()
# The node whose gradient is being computed now (read by anomaly mode to name backward ops).
CURRENT: list = [None]


def _shell(t):
    """A tensor sharing t's data and version counter but not its history (no ref cycle)."""

    s = wrap(t._data)
    s._vc = version_counter(t)
    s._saved_version = s._vc[0]
    return s


def _with_history(shell, node: Node, index: int):
    """A saved output re-linked to the node that made it (built only during a create_graph
    backward, so forward graphs hold no node -> output -> node cycle)."""
    t = wrap(shell._data)
    t._vc = shell._vc
    t.requires_grad = True
    t._grad_fn = node
    t._out_index = index
    return t


def _check_versions(node: Node) -> None:
    if node.versions is not None:
        for i, (t, v) in enumerate(zip(node.inputs, node.versions)):
            if t._version != v:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by an "
                    f"in-place operation: input {i} of {node.op.name} (shape {fmt_shape(t.shape)}) "
                    f"is at version {t._version}, expected {v}"
                )
    if node.saved_out is not None:
        for t in node.saved_out:
            if t._version != t._saved_version:
                raise RuntimeError(
                    f"the output of {node.op.name} (shape {fmt_shape(t.shape)}) was modified in "
                    f"place after it was saved for backward (version {t._version}, expected "
                    f"{t._saved_version})"
                )


def _collect(roots: list[Node]) -> dict[Node, int]:
    """Every node reachable from the roots, with the number of edges pointing at it."""
    deps: dict[Node, int] = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        node = stack.pop()
        deps.setdefault(node, 0)
        for parent in node.next[::2]:
            if parent is None:
                continue
            deps[parent] = deps.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return deps


# Leaves that ever had a post-accumulate-grad hook (Tensor.register_post_accumulate_grad_hook);
# while it is 0, backward skips the hook bookkeeping entirely.
_HOOKED_LEAVES = [0]


def count_hooked_leaf() -> None:
    _HOOKED_LEAVES[0] += 1


class _PostAccumulate:
    """The post-accumulate-grad hooks of one backward: a hooked leaf's hooks run once every
    edge into it has delivered its gradient; edges that carried none (a None gradient) are
    settled at the end of the backward, for leaves that got at least one gradient."""

    def __init__(self, deps: dict, root_leaves: list) -> None:
        self.pending: dict[int, list] = {}  # id(leaf) -> [leaf, edges left, delivered any]
        for node in deps:
            edges = node.next
            for k in range(0, len(edges), 2):
                leaf = edges[k + 1]
                if edges[k] is None and leaf is not None and _hooks(leaf):
                    self.expect(leaf)
        for leaf in root_leaves:  # already delivered by the caller
            if _hooks(leaf):
                self.expect(leaf)
                self.delivered(leaf)

    def expect(self, leaf) -> None:
        self.pending.setdefault(id(leaf), [leaf, 0, False])[1] += 1

    def delivered(self, leaf) -> None:
        entry = self.pending.get(id(leaf))
        if entry is None:
            return
        entry[1] -= 1
        entry[2] = True
        if entry[1] <= 0:
            del self.pending[id(leaf)]
            _run_hooks(leaf)

    def finish(self) -> None:
        left, self.pending = list(self.pending.values()), {}
        for leaf, _, delivered in left:
            if delivered:
                _run_hooks(leaf)


def _hooks(leaf) -> dict | None:
    return getattr(leaf, "_post_acc_hooks", None)


def _run_hooks(leaf) -> None:
    for hook in list(_hooks(leaf).values()):
        hook(leaf)


# Leaves that ever had a gradient hook (Tensor.register_hook); while 0, backward skips them.
_GRAD_HOOKED_LEAVES = [0]


def count_grad_hooked_leaf() -> None:
    _GRAD_HOOKED_LEAVES[0] += 1


def _run_grad_hooks(hooks, g, what: str):
    """Tensor.register_hook hooks in order; a non-None result of the same shape replaces g."""
    for hook in list(hooks):
        result = hook(g)
        if result is None:
            continue
        if not hasattr(result, "shape") or result.shape != g.shape:
            raise RuntimeError(
                f"gradient hook on {what} returned "
                f"{fmt_shape(result.shape) if hasattr(result, 'shape') else type(result).__name__}"
                f" for a gradient of shape {fmt_shape(g.shape)}; return None or a tensor of "
                "that shape")
        g = result
    return g


class _LeafGradHooks:
    """Gradient hooks on leaves: a hooked leaf's contributions are summed until every edge into
    it has delivered, then its hooks run once on the sum (as PyTorch runs them before
    AccumulateGrad) and the result goes on to `deliver`. Edges that never deliver (a None
    gradient) are settled by finish()."""

    def __init__(self, deps: dict, deliver) -> None:
        self.deliver = deliver
        self.pending: dict[int, list] = {}  # id(leaf) -> [leaf, edges left, summed gradient]
        for node in deps:
            edges = node.next
            for k in range(0, len(edges), 2):
                leaf = edges[k + 1]
                if edges[k] is None and leaf is not None and getattr(leaf, "_grad_hooks", None):
                    self.pending.setdefault(id(leaf), [leaf, 0, None])[1] += 1

    def __call__(self, leaf, g) -> None:
        entry = self.pending.get(id(leaf))
        if entry is None:
            self.deliver(leaf, g)
            return
        entry[2] = g if entry[2] is None else _add(entry[2], g)
        entry[1] -= 1
        if entry[1] <= 0:
            del self.pending[id(leaf)]
            self._flush(leaf, entry[2])

    def _flush(self, leaf, g) -> None:
        what = f"a leaf of shape {fmt_shape(leaf.shape)}"
        self.deliver(leaf, _run_grad_hooks(leaf._grad_hooks.values(), g, what))

    def finish(self) -> None:
        left, self.pending = list(self.pending.values()), {}
        for leaf, _, g in left:
            if g is not None:
                self._flush(leaf, g)


# Callbacks queued during the running backward (queue_callback); one list per nested backward.
_END_CALLBACKS: list[list] = []


def queue_callback(callback) -> None:
    """Run `callback()` once the backward that is running now has finished (every gradient
    delivered and every post-accumulate-grad hook run), like PyTorch's engine queue_callback.
    Only valid inside a backward (from a hook). DataParallel waits for its all-reduces here."""
    if not _END_CALLBACKS:
        raise RuntimeError("queue_callback: no backward is running (call it from a hook)")
    _END_CALLBACKS[-1].append(callback)


def _add(a, b):
    from unified.functional.math import add

    return add(a, b)


def _normalize(node: Node, result: Any) -> tuple:
    if not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != len(node.inputs):
        raise RuntimeError(
            f"internal error: grad of {node.op.name} returned {len(result)} gradients for "
            f"{len(node.inputs)} inputs"
        )
    for g, t in zip(result, node.inputs):
        if g is not None and g.shape != t.shape:
            raise RuntimeError(
                f"internal error: grad of {node.op.name} has shape {fmt_shape(g.shape)} for an "
                f"input of shape {fmt_shape(t.shape)}"
            )
    return tuple(result)


def run_backward(
    roots: Sequence, grad_roots: Sequence, retain_graph: bool, create_graph: bool,
    inputs: Sequence | None = None,
) -> list | None:
    """The engine behind Tensor.backward and autograd.grad. With `inputs`, returns their
    gradients (in order) instead of accumulating into `.grad`."""
    from unified.tensor import Tensor

    wanted_leaf: dict[int, int] = {}
    wanted_node: dict[tuple, int] = {}
    captured: list = [None] * len(inputs) if inputs is not None else []
    if inputs is not None:
        for i, t in enumerate(inputs):
            if t._grad_fn is None:
                wanted_leaf[id(t)] = i
            else:
                wanted_node[(t._grad_fn, t._out_index)] = i

    handed_out: set[int] = set()

    def deliver_leaf(leaf: Tensor, g: Tensor) -> None:
        if inputs is not None:
            slot = wanted_leaf.get(id(leaf))
            if slot is not None:
                captured[slot] = g if captured[slot] is None else _add(captured[slot], g)
            return
        if leaf.grad is None:
            fresh = g._data.base is None and id(g) not in handed_out and g._grad_fn is None
            leaf.grad = g if (fresh or create_graph) else g.clone()
            handed_out.add(id(leaf.grad))
        elif create_graph:
            leaf.grad = leaf.grad + g
        else:
            leaf.grad.add_(g)

    buffers: dict[Node, list] = {}
    root_nodes = []
    root_leaves = []
    with set_grad_enabled(create_graph):
        for t, g in zip(roots, grad_roots):
            handed_out.add(id(g))
            if t._grad_fn is None:
                deliver_leaf(t, g)
                root_leaves.append(t)
                continue
            buf = buffers.setdefault(t._grad_fn, [None] * t._grad_fn.op.num_outputs)
            i = t._out_index
            buf[i] = g if buf[i] is None else _add(buf[i], g)
            root_nodes.append(t._grad_fn)
        deps = _collect(root_nodes)
        _END_CALLBACKS.append([])
        try:
            post = leaf_hooks = None
            if _GRAD_HOOKED_LEAVES[0]:
                leaf_hooks = deliver_leaf = _LeafGradHooks(deps, deliver_leaf)
            if _HOOKED_LEAVES[0] and inputs is None:  # backward() runs the hooks, grad() not
                post = _PostAccumulate(deps, root_leaves)
                deliver_leaf = _announcing(deliver_leaf, post)
            ready = [n for n in set(root_nodes) if deps[n] == 0]
            while ready:
                node = ready.pop()
                grads_out = buffers.pop(node, None) or [None] * node.op.num_outputs
                _process(node, grads_out, wanted_node, captured, retain_graph, deliver_leaf,
                         buffers, deps, ready, handed_out)
            if leaf_hooks is not None:
                leaf_hooks.finish()
            if post is not None:
                post.finish()
        finally:
            callbacks = _END_CALLBACKS.pop()
        for callback in callbacks:  # queued by hooks; a callback may queue no more
            callback()
    return captured if inputs is not None else None


def _announcing(deliver_leaf, post: _PostAccumulate):
    """deliver_leaf, then tell `post` (which runs the leaf's hooks after its last edge)."""
    def deliver(leaf, g) -> None:
        deliver_leaf(leaf, g)
        post.delivered(leaf)
    return deliver


def _process(node, *args) -> None:
    """_process_node with CURRENT naming the node (anomaly mode names its backward ops)."""
    previous, CURRENT[0] = CURRENT[0], node
    try:
        _process_node(node, *args)
    finally:
        CURRENT[0] = previous


def _process_node(node, grads_out, wanted_node, captured, retain_graph, deliver_leaf, buffers,
                  deps, ready, handed_out) -> None:
    if node.inputs is None:
        raise RuntimeError(
            f"trying to backward through the graph a second time ({node.name()}); its saved "
            "tensors were freed: pass retain_graph=True to the first backward()"
        )
    if node.hooks is not None:
        grads_out = list(grads_out)
        for i, hooks in node.hooks.items():
            if grads_out[i] is not None and hooks:
                what = f"output {i} of {node.name()}"
                grads_out[i] = _run_grad_hooks(hooks.values(), grads_out[i], what)
    for i, g in enumerate(grads_out):
        if g is None:
            continue
        slot = wanted_node.get((node, i))
        if slot is not None:
            captured[slot] = g
        if node.retained is not None and i in node.retained:
            t = node.retained[i]()
            if t is not None:
                t.grad = g if t.grad is None else t.grad + g
    _check_versions(node)
    g = grads_out[0] if node.op.num_outputs == 1 else tuple(grads_out)
    out = None
    if node.saved_out is not None:
        saved = node.saved_out
        if is_grad_enabled():  # create_graph: the output must carry its history for grad-of-grad
            saved = [_with_history(s, node, i) for i, s in enumerate(saved)]
        out = saved[0] if node.op.num_outputs == 1 else tuple(saved)
    attrs = node.attrs or {}
    result = _normalize(node, node.op.grad(g, *node.inputs, out=out, **attrs))
    edges = node.next
    for k, gi in enumerate(result):
        parent, index = edges[2 * k], edges[2 * k + 1]
        if gi is None or (parent is None and index is None):
            continue
        if parent is None:
            deliver_leaf(index, gi)
            continue
        buf = buffers.setdefault(parent, [None] * parent.op.num_outputs)
        if buf[index] is None:
            buf[index] = gi
        else:
            buf[index] = _add(buf[index], gi)
        deps[parent] -= 1
        if deps[parent] == 0:
            ready.append(parent)
    if not retain_graph:
        node.inputs = None
        node.saved_out = None


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of `outputs` with respect to `inputs` (PyTorch's torch.autograd.grad).

    >>> import unified as U
    >>> x = U.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = U.autograd.grad((x * x).sum(), [x])
    >>> g.tolist()
    [2.0, 4.0]
    """
    from unified.tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    grad_outputs = _default_grads(outputs, grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"input {i} (shape {fmt_shape(inputs[i].shape)}) was not used to compute the "
                "outputs; pass allow_unused=True to get None for it"
            )
    return tuple(result)


def _default_grads(outputs: list, grad_outputs) -> list:
    from unified.creation import ones_like

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    result = []
    for t, g in zip(outputs, grad_outputs):
        if not t.requires_grad:
            raise RuntimeError(
                f"element of shape {fmt_shape(t.shape)} does not require grad and has no "
                "grad_fn: nothing to differentiate (was it computed under no_grad?)"
            )
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs, got shape "
                    f"{fmt_shape(t.shape)}; pass a gradient of that shape"
                )
            g = ones_like(t)
        elif g.shape != t.shape:
            raise RuntimeError(
                f"gradient has shape {fmt_shape(g.shape)} but the output has shape "
                f"{fmt_shape(t.shape)}"
            )
        result.append(g)
    return result
