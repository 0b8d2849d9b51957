"""Recording: a dispatcher observer (dispatch.observe) that turns every op applied during one
eager call of a traced function into a Graph. A tensor made by an op in the call is an SSA
value; one first seen as an op input is an argument (input node, matched by identity), a
read-only constant such as a Python scalar (const) or captured state (param, bound to its
array). In-place ops on state become graph writes. A random op's generator-state input (its
last input, an int64 (seed, offset) tensor) becomes a graph input `rng<k>` whose offset is kept
relative to the default generator's offset at the start of the call, so replay feeds the
generator's new state. trace.py decides when to record and replays; guards.py checks reads.

Values are keyed by the NumPy array, not the Tensor object: `detach()`, autograd's saved
copies and `.data` wrap the same array, so they are the same graph value."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from unified.tracer import guards
from unified.tracer.graph import Graph, Node, Ref

from unified.dispatch import observe
from unified.ops.registry import TensorMeta, Trait
from unified.random import default_generator
from unified.tensor import Tensor

_U64 = 1 << 64


@dataclasses.dataclass
class Recording:
    """One recorded call. `graph.outputs` holds, in order: the user's outputs, the guarded
    values, the new `.grad` tensors and the new values of arguments changed in place; `state`
    and `arrays` give the live tensor and array of each param node (graph.params() order)."""

    graph: Graph
    input_positions: list[int | None]  # per input node: index into the flat argument tensors
    # (None for a generator-state input: see `rng`)
    state: list[Tensor]
    arrays: list[np.ndarray]
    initial: list[np.ndarray]  # per param node: its value when first seen
    out_spec: Any
    guards: list[guards.Guard]
    # (owner, None | "keep" | output index): the owner is a state tensor, or the int position of
    # an argument in the flattened call arguments (each call brings its own argument tensors)
    grads: list[tuple[Tensor | int, Any]]
    input_writes: list[tuple[int, int]]  # (flat argument position, output index)
    rng: list[tuple[Node, int]]  # generator-state input nodes, offset from the call's start
    rng_advance: int = 0
    untraceable: str | None = None
    guard_start: int = 0  # index of the first guarded value in graph.outputs
    eager_peak: dict | None = None  # tensor bytes the eager call held (memory_report)
    compiled: Any = None  # trace.py's lowered form of this variant, built on first replay
    batch_ok: bool | None = None  # batch.py: other batch sizes derived from it were validated

    @property
    def n_outputs(self) -> int:
        return len(self.graph.outputs)


def _root(array: np.ndarray) -> np.ndarray:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class Recorder:
    """The observer: call it as dispatch calls observers; `finish(result)` ends the graph."""

    observes_inplace = True

    def __init__(self, name: str, flat: list[Tensor], arg_names: list[str],
                 state_names: dict[int, str], on_print: Callable[[Any], None]) -> None:
        self.graph = Graph(name)
        self.flat, self.arg_names, self.state_names = flat, arg_names, state_names
        self.on_print = on_print
        self.args = {id(t._data): i for i, t in reversed(list(enumerate(flat)))}
        self.env: dict[int, tuple[np.ndarray, Ref]] = {}
        self.first: dict[int, Ref] = {}  # the input/param node ref of each bound array
        self.roots: dict[int, tuple[np.ndarray, set[int]]] = {}
        self.written_root: dict[int, tuple[int, Any]] = {}
        self.state: list[Tensor] = []
        self.arrays: list[np.ndarray] = []
        self.initial: list[np.ndarray] = []
        self.input_positions: list[int] = []
        self.guards: list[guards.Guard] = []
        self.random: list[tuple[Node, int, int]] = []  # (rng input, seed, offset) unsigned
        self.untraceable: str | None = None
        self.calls = 0

    # ---- values ---------------------------------------------------------------------------
    def ref_of(self, t: Tensor) -> Ref:
        array = t._data
        entry = self.env.get(id(array))
        if entry is not None:
            self._check_read(array)
            return entry[1]
        position = self.args.get(id(array))
        if position is not None:
            node = self.graph.add_input(self.arg_names[position], _meta(array))
            self.input_positions.append(position)
        elif not array.flags.writeable:
            node = self.graph.add_const(np.array(array))
        else:
            name = self.state_names.get(id(array)) or f"s{len(self.state)}"
            node = self.graph.add_param(name, _meta(array))
            self.state.append(t)
            self.arrays.append(array)
            self.initial.append(array.copy())
        self._bind(array, node.ref())
        self.first[id(array)] = node.ref()
        self._check_read(array)
        return node.ref()

    def _bind(self, array: np.ndarray, ref: Ref) -> None:
        self.env[id(array)] = (array, ref)
        root = _root(array)
        self.roots.setdefault(id(root), (root, set()))[1].add(id(array))

    def _check_read(self, array: np.ndarray) -> None:
        written = self.written_root.get(id(_root(array)))
        if written is not None and written[0] != id(array):
            self._give_up(f"a tensor is read after its memory was changed in place through "
                          f"another view (at {written[1]})")

    def _give_up(self, reason: str) -> None:
        if self.untraceable is None:
            self.untraceable = reason

    # ---- the observer ---------------------------------------------------------------------
    def __call__(self, op, inputs: tuple, attrs: dict | None, result: Any,
                 inplace: bool = False) -> None:
        if Trait.RANDOM in op.traits:  # the last input is the generator state
            refs = tuple(self.ref_of(t) for t in inputs[:-1]) + (self._rng_input(inputs[-1]),)
        else:
            refs = tuple(self.ref_of(t) for t in inputs)
        outs = result if isinstance(result, tuple) else (result,)
        source = guards.source_here()
        if inplace:  # one target (apply_inplace) or several (apply_update: a tuple)
            for t in outs:
                self._before_write(t, source)
        metas = tuple(_meta(t._data) for t in outs)
        node = self.graph.add_call(op, refs, attrs, metas, source=source)
        self.calls += 1
        for i, t in enumerate(outs):
            self._bind(t._data, node.ref(i))

    def _rng_input(self, state: Tensor) -> Ref:
        """A new graph input for one random op's generator state (never shared: each draw has
        its own offset)."""
        seed, offset = (int(v) % _U64 for v in state._data)
        node = self.graph.add_input(f"rng{len(self.random)}", _meta(state._data))
        self.input_positions.append(None)
        self.random.append((node, seed, offset))
        return node.ref()

    def _before_write(self, target: Tensor, source: Any) -> None:
        array = target._data
        if id(array) not in self.env:
            self.ref_of(target)  # state written before it is read: bind it now
        root = _root(array)
        aliases = self.roots.get(id(root), (root, set()))[1]
        if root is not array and (id(root) in self.env or len(aliases) > 1):
            self._give_up(f"an in-place op writes through a view of another tensor (at "
                          f"{source})")
        self.written_root[id(root)] = (id(array), source)

    def on_read(self, t: Tensor, kind: str) -> None:
        if kind == "print":
            self.on_print(guards.source_here())
            return
        ref = self.ref_of(t)
        self.guards.append(guards.Guard(ref, kind, np.array(t._data), guards.source_here(),
                                        self.calls))

    # ---- the end of the call --------------------------------------------------------------
    def finish(self, result: Any, rng_start: tuple[int, int]) -> Recording:
        outputs: list[Ref] = []
        spec = self._spec(result, outputs)
        guard_start = len(outputs)
        outputs += [g.ref for g in self.guards]
        grads = self._grads(outputs)
        input_writes = []
        for array_id, first in self.first.items():
            latest = self.env[array_id][1]
            if latest == first:
                continue
            if first.node.kind == "param":
                self.graph.add_write(first.node, latest)
            elif first.node.kind == "input":
                input_writes.append((self.args[array_id], len(outputs)))
                outputs.append(latest)
        self.graph.set_outputs(outputs)
        rng, advance = self._rng(rng_start)
        if self.untraceable is None:
            try:
                self.graph.check()
            except ValueError as exc:
                self._give_up(f"the recorded graph does not check: {exc}")
        return Recording(self.graph, self.input_positions, self.state, self.arrays,
                         self.initial, spec, self.guards, grads, input_writes, rng, advance,
                         self.untraceable, guard_start)  # _rng/check may give up: read last

    def _spec(self, value: Any, outputs: list[Ref]) -> Any:
        """The returned structure with each tensor replaced by where replay finds it."""
        if isinstance(value, Tensor):
            position = self.args.get(id(value._data))
            if position is not None and self.flat[position] is value:
                return ("arg", position)
            if any(value is s for s in self.state):
                return ("state", value)
            outputs.append(self.ref_of(value))
            return ("out", len(outputs) - 1)
        if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
            return (type(value), [self._spec(v, outputs) for v in value])
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # namedtuple (topk)
            return ("namedtuple", type(value), [self._spec(v, outputs) for v in value])
        if isinstance(value, dict) and type(value) is dict:
            return (dict, list(value.keys()), [self._spec(v, outputs) for v in value.values()])
        return ("py", value)

    def _grads(self, outputs: list[Ref]) -> list[tuple[Tensor | int, Any]]:
        """What each leaf that requires grad holds in .grad at the end of the call."""
        owners: dict[int, tuple[Tensor, Tensor | int]] = {}
        for t in self.state:
            if t.requires_grad:
                owners[id(t)] = (t, t)
        for position, t in enumerate(self.flat):
            if t.requires_grad and id(t) not in owners:
                owners[id(t)] = (t, position)
        grads = []
        for tensor, owner in owners.values():
            g = tensor.grad
            entry = None if g is None else self.env.get(id(g._data))
            first = None if g is None else self.first.get(id(g._data))
            if g is None:
                grads.append((owner, None))
            elif entry is None or (first is not None and first.node.kind == "param"):
                grads.append((owner, "keep"))  # state: in-place updates arrive as writes
            else:
                grads.append((owner, len(outputs)))
                outputs.append(entry[1])
        return grads

    def _rng(self, start: tuple[int, int]) -> tuple[list[tuple[Node, int]], int]:
        seed, offset = default_generator.initial_seed(), default_generator.offset
        advance = (offset - start[1]) % _U64
        rng = []
        for node, node_seed, node_offset in self.random:
            rel = (node_offset - start[1]) % _U64
            if seed != start[0] or node_seed != seed or rel >= max(advance, 1):
                user = node.users[0] if node.users else node
                what = user.op.name if user.op else node.kind
                self._give_up(f"random op {what} (at {user.source}) does not draw from "
                              "the default generator (a generator= argument, or a reseed inside "
                              "the function); only the default generator's state is graph state")
            rng.append((node, rel))
        return rng, advance


def _meta(array: np.ndarray) -> TensorMeta:
    return TensorMeta(tuple(int(d) for d in array.shape), array.dtype)


def record(fn: Callable[..., Any], args: tuple, kwargs: dict, flat: list[Tensor],
           arg_names: list[str], state_names: dict[int, str],
           on_print: Callable[[Any], None], name: str) -> tuple[Any, Recording]:
    """Run fn(*args, **kwargs) eagerly while recording; returns (its result, the Recording)."""
    recorder = Recorder(name, flat, arg_names, state_names, on_print)
    start = (default_generator.initial_seed(), default_generator.offset)
    with observe(recorder), guards.reading(recorder.on_read):
        result = fn(*args, **kwargs)
    return result, recorder.finish(result, start)


# ---- comparing two recordings ----------------------------------------------------------------
def fingerprint(rec: Recording) -> list[tuple]:
    """The recording's structure, one item per node and for the interface: kinds, ops, wiring,
    attrs, metas, const values, writes, guard values and random offsets (relative)."""
    graph = rec.graph
    index = {node.id: i for i, node in enumerate(graph.nodes)}
    items = []
    for node in graph.nodes:
        attrs = tuple((k, repr(v)) for k, v in node.attrs.items())
        const = None if node.value is None else (node.value.dtype.str, node.value.tobytes())
        items.append((node.kind, node.op.name if node.op else None,
                      tuple((index[r.node.id], r.index) for r in node.inputs), attrs,
                      tuple((m.shape, np.dtype(m.dtype).str) for m in node.metas), const))

    def refs(rs: list[Ref]) -> tuple:
        return tuple((index[r.node.id], r.index) for r in rs)

    items.append(("outputs", refs(graph.outputs)))
    items.append(("writes", tuple((index[p.id], index[r.node.id], r.index)
                                  for p, r in graph.writes)))
    items.append(("guards", tuple((g.kind, g.position, g.value.dtype.str, g.value.tobytes())
                                  for g in rec.guards)))
    items.append(("rng", tuple(rel for _, rel in rec.rng), rec.rng_advance))
    items.append(("io", tuple(rec.input_positions), tuple(rec.input_writes),
                  tuple(a for _, a in rec.grads), repr(_spec_shape(rec.out_spec))))
    return items


def _spec_shape(spec: Any) -> Any:
    if spec[0] == "state":
        return ("state", id(spec[1]))
    if spec[0] in (tuple, list):
        return (spec[0].__name__, [_spec_shape(s) for s in spec[1]])
    if spec[0] is dict:
        return ("dict", spec[1], [_spec_shape(s) for s in spec[2]])
    if spec[0] == "namedtuple":
        return ("namedtuple", spec[1].__qualname__, [_spec_shape(s) for s in spec[2]])
    return spec


def difference(old: Recording, new: Recording) -> str | None:
    """None when `new` repeats `old`'s structure and state; else the first difference."""
    a, b = fingerprint(old), fingerprint(new)
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if i < len(new.graph.nodes):
                node = new.graph.nodes[i]
                what = node.op.name if node.op else node.kind
                return f"node {node.ref_name()} ({what}, at {node.source}) differs"
            return f"the function's {y[0]} differ"
    if len(a) != len(b):
        return f"the number of recorded ops changed ({len(a)} -> {len(b)} items)"
    for i, (x, y) in enumerate(zip(old.arrays, new.arrays)):
        if x is not y and not np.array_equal(old.initial[i], new.initial[i], equal_nan=True):
            node = new.graph.params()[i]
            return f"captured tensor %{node.name} is a new tensor with new values on each call"
    return None


def freeze_fresh_state(old: Recording, new: Recording) -> None:
    """Params of `new` bound to a different array than in `old` (with the same value) are
    tensors created inside the call each time (ones_like in backward, a zeros buffer): they
    become consts of `new`, and writes to them are dropped."""
    _freeze(new, [i for i, (x, y) in enumerate(zip(old.arrays, new.arrays)) if x is not y])


def freeze_unbound(rec: Recording, arrays: list[np.ndarray]) -> None:
    """Check mode: params of `rec` bound to none of `arrays` (a replayed variant's state) are
    tensors created inside the call; they become consts, as freeze_fresh_state made them in
    the variant, so the two graphs compare op by op."""
    bound = {id(a) for a in arrays}
    _freeze(rec, [i for i, a in enumerate(rec.arrays) if id(a) not in bound])


def _freeze(rec: Recording, fresh: list[int]) -> None:
    if not fresh:
        return
    params = rec.graph.params()
    nodes = {params[i].id for i in fresh}
    rec.graph.writes = [(p, r) for p, r in rec.graph.writes if p.id not in nodes]
    for i in fresh:
        params[i].kind = "const"
        params[i].value = rec.initial[i]
    keep = [i for i in range(len(params)) if i not in fresh]
    dropped = {id(rec.state[i]) for i in fresh}
    rec.state = [rec.state[i] for i in keep]
    rec.arrays = [rec.arrays[i] for i in keep]
    rec.initial = [rec.initial[i] for i in keep]
    rec.grads = [(o, a) for o, a in rec.grads if isinstance(o, int) or id(o) not in dropped]
