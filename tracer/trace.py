"""`unified.trace`: record a function (or a Module's __call__) into a graph on its first calls
and replay the graph on later calls with the same signature. Recording is in record.py,
value-read guards in guards.py, running a variant (the lowered _core plan through
pipeline.py, or the interpreter) and the guard scheme in replay.py."""

from __future__ import annotations

import collections
import dataclasses
import inspect
import itertools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from unified.tracer import batch, check, guards, record, replay
from unified.tracer.graph import fmt_meta
from unified.tracer.guards import RetraceWarning, TraceWarning

from unified.errors import USER_ERRORS, TraceError
from unified.ops.registry import TensorMeta
from unified import memory
from unified.random import default_generator
from unified.tensor import Tensor, version_counter

RETRACE_WARN_AFTER = 2  # warn when a new signature arrives with this many already cached
MAX_UNSTABLE = 4  # recordings in a row that repeat no earlier one before running eagerly
MAX_VARIANTS = 8  # guard variants kept per signature


@dataclasses.dataclass
class _Entry:
    variants: list = dataclasses.field(default_factory=list)  # replayable Recordings
    pending: list = dataclasses.field(default_factory=list)  # recordings not yet repeated
    unstable: int = 0
    eager_reason: str | None = None


@dataclasses.dataclass
class _Miss:
    reason: str


class Traced:
    """A traced function. The first call with a new signature (argument structure, tensor
    shapes/dtypes/requires_grad, non-tensor arguments by value, training flags of the Modules
    involved) runs eagerly while recording. Because the first call may create state lazily
    (optimizer momentum buffers), the graph is replayed only once two consecutive recordings
    have the same structure (so usually from the third call on); until then every call runs
    eagerly. A replay runs the variant's lowered C++ plan (backend="plan", the default; the
    pass pipeline and lowering run once per variant) or the node-by-node interpreter
    (backend="interpret", also the fallback for a graph the plan cannot run). It updates
    parameters, buffers and optimizer state in place, sets each parameter's and each tensor
    argument's `.grad` to the recorded step's value (or None, as the step left it; a new
    gradient lives in a buffer the variant reuses on every replay, see replay.py), draws its
    random numbers from the default generator as eager would, and returns
    tensors without autograd history. Python side effects (prints, appends, attribute writes
    other than `.grad`) happen only while recording."""

    def __init__(self, fn: Callable[..., Any], strict: bool = False, cache_size: int = 8,
                 module: Any = None, backend: str = "plan", check: bool = False) -> None:
        if backend not in replay.BACKENDS:
            raise ValueError(f"trace: backend must be one of {replay.BACKENDS}, got {backend!r}")
        self.fn, self.strict, self.cache_size, self.module = fn, strict, cache_size, module
        self.backend, self.check = backend, check
        self.__name__ = (type(module).__name__ if module is not None
                         else getattr(fn, "__name__", "fn"))
        self.__doc__ = getattr(fn, "__doc__", None)
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._last_leaves: list = []
        self._last_rec: record.Recording | None = None
        self._printed = False
        self._flags_cached: tuple | None = None  # (mode epoch, module ids, flags)
        try:  # a Module's arguments are named after its forward's parameters
            self._signature = inspect.signature(module.forward if module is not None else fn)
        except (TypeError, ValueError):
            self._signature = None
        # names of the leading plain positional parameters: a call with only positional
        # arguments, no more than these, binds by zip (Signature.bind costs ~6 us per call)
        plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self._positional = [] if self._signature is None else list(
            itertools.takewhile(lambda n: self._signature.parameters[n].kind in plain,
                                self._signature.parameters))

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return lambda *args, **kwargs: self(obj, *args, **kwargs)

    # ---- calling --------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_anomaly_mode(self.__name__)
        key, flat, names, leaves = self._key(args, kwargs)
        if key not in self._cache:
            reused = self._other_batch(key, leaves, args, kwargs, flat, names)
            if reused is not None:
                return reused[0]
        entry = self._entry(key, leaves)
        if entry.eager_reason is not None:
            return self.fn(*args, **kwargs)
        if self.check and entry.variants:
            return self._checked(entry.variants[-1], args, kwargs, flat, names)
        miss = None
        for rec in reversed(entry.variants):
            out = self._replay(rec, flat)
            if not isinstance(out, _Miss):
                return out
            miss = miss or out
        if miss is not None and self.strict:
            raise TraceError(f"trace({self.__name__}): {miss.reason}; strict=True, so the "
                             "call is not re-recorded")
        return self._record(entry, args, kwargs, flat, names)

    def _record(self, entry: _Entry, args: tuple, kwargs: dict, flat: list,
                names: list) -> Any:
        result, rec = _record_measured(self.fn, args, kwargs, flat, names, self._state_names(),
                                       self._on_print, self.__name__)
        if rec.untraceable is not None:
            entry.eager_reason = rec.untraceable
            warnings.warn(f"trace({self.__name__}): running eagerly from now on: "
                          f"{rec.untraceable}", TraceWarning, stacklevel=3)
            return result
        self._last_rec = rec
        for cand in entry.pending:
            if record.difference(cand, rec) is None:
                record.freeze_fresh_state(cand, rec)
                rec.initial = []  # only recordings still compared need the copies of state
                entry.variants = (entry.variants + [rec])[-MAX_VARIANTS:]
                entry.pending = []  # drop the unmatched ones too: they hold copies of state
                entry.unstable = 0
                return result
        why = record.difference(entry.pending[-1], rec) if entry.pending else None
        entry.pending = (entry.pending + [rec])[-3:]
        entry.unstable += 1
        if entry.unstable > MAX_UNSTABLE:
            entry.eager_reason = f"no two recordings in a row agree ({why})"
            warnings.warn(f"trace({self.__name__}): running eagerly from now on: "
                          f"{entry.eager_reason}", TraceWarning, stacklevel=3)
        return result

    def _checked(self, variant: record.Recording, args: tuple, kwargs: dict, flat: list,
                 names: list) -> Any:
        """check=True: run eagerly while recording and compare op by op with the variant
        replay would run (tracer/check.py raises at the first difference)."""
        result, rec = record.record(self.fn, args, kwargs, flat, names, self._state_names(),
                                    self._on_print, self.__name__)
        if rec.untraceable is None:
            record.freeze_unbound(rec, variant.arrays)
            check.compare(variant, rec, self.__name__)
        return result

    def _other_batch(self, key: tuple, leaves: list, args: tuple, kwargs: dict, flat: list,
                     names: list) -> tuple[Any] | None:
        """A new key that differs from a cached variant's only in dim 0 of tensors: derive
        that variant's graph for the new sizes (tracer/batch.py) and cache it under `key`.
        Returns (result,) when this call ran (eagerly, validating), None to go on as usual."""
        base, sizes = batch.base(self._cache, key)
        derived = None if base is None else batch.derive(base, flat)
        if derived is None:
            return None
        entry = _Entry(variants=[derived])
        if base.batch_ok is None and batch.baked(base, sizes):
            result, rec = _record_measured(self.fn, args, kwargs, flat, names,
                                           self._state_names(), self._on_print, self.__name__)
            base.batch_ok = derived.batch_ok = batch.validate(derived, rec)
            if not base.batch_ok:  # a recording like any first one (trace.py's _record)
                entry = _Entry(pending=[rec], unstable=1, eager_reason=rec.untraceable)
            self._last_rec = rec
            self._insert(key, leaves, entry)
            return (result,)
        self._insert(key, leaves, entry)
        return None

    def _insert(self, key: tuple, leaves: list, entry: _Entry) -> None:
        self._cache[key] = entry
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._last_leaves = leaves

    def _on_print(self, source: Any) -> None:
        if not self._printed:
            self._printed = True
            guards.warn_print(self.__name__, source)

    # ---- replay ---------------------------------------------------------------------------
    def _replay(self, rec: record.Recording, flat: list[Tensor]) -> Any:
        for t, array in zip(rec.state, rec.arrays):
            if t._data is not array:
                return _Miss("a captured tensor's data was replaced (.data = ...)")
        if not rec.guards:  # the run replaces these .grad tensors: free them first (as
            replay.release_grads(rec, flat, self.backend, self.__name__)  # zero_grad does)
        try:
            result = replay.run(rec, flat, self.backend, self.__name__)
        except USER_ERRORS as exc:
            if not rec.guards:
                raise
            return _Miss(f"the recorded path fails on these values ({exc})")
        outputs = result.outputs
        if rec.guards:  # state is untouched so far (replay.py, scheme 2)
            start = rec.guard_start
            values = [t._data for t in outputs[start:start + len(rec.guards)]]
            failed = guards.first_failure(rec.guards, values)
            if failed is not None:
                return _Miss("guard failed: " + failed[0].describe(failed[1]))
        self._commit(rec, flat, result)
        return _build(rec.out_spec, flat, outputs)

    def _commit(self, rec: record.Recording, flat: list, result: replay.Result) -> None:
        outputs = result.outputs
        for i, value in result.writes:
            np.copyto(rec.arrays[i], value)
        for i in result.written:
            version_counter(rec.state[i])[0] += 1
        for position, k in rec.input_writes:
            np.copyto(flat[position]._data, outputs[k]._data)
            version_counter(flat[position])[0] += 1
        for owner, action in rec.grads:
            if action != "keep":
                replay.grad_owner(owner, flat).grad = None if action is None else outputs[action]
        if rec.rng_advance:
            default_generator.draw(rec.rng_advance)

    # ---- signatures -----------------------------------------------------------------------
    def _key(self, args: tuple, kwargs: dict) -> tuple:
        if not kwargs and len(args) <= len(self._positional):
            named = list(zip(self._positional, args))
        elif self._signature is not None:
            try:
                named = list(self._signature.bind(*args, **kwargs).arguments.items())
            except TypeError:
                named = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
        else:
            named = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
        flat: list[Tensor] = []
        names: list[str] = []
        leaves: list[tuple[str, Any]] = []
        tree = tuple(_flatten(v, n, flat, names, leaves) for n, v in named)
        flags = self._flag_key()
        key = (tree, tuple(leaf for _, leaf in leaves), flags)
        return key, flat, names, leaves + [(f"{n}.training", f) for n, f in flags]

    def _flag_key(self) -> tuple:
        """(name, training flags of every submodule) per Module involved, recomputed only
        when some Module's flag or children changed (unified/nn/mode_epoch.py) or the
        function now names other Modules."""
        from unified.nn import mode_epoch

        modules = self._modules()
        ids = tuple(id(m) for _, m in modules)
        cached = self._flags_cached
        if cached is not None and cached[0] == mode_epoch.epoch() and cached[1] == ids:
            return cached[2]
        flags = tuple((name, _flags(m)) for name, m in modules)
        self._flags_cached = (mode_epoch.epoch(), ids, flags)
        return flags

    def _entry(self, key: tuple, leaves: list) -> _Entry:
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            self._last_leaves = leaves
            return entry
        if len(self._cache) >= RETRACE_WARN_AFTER:
            warnings.warn(f"trace({self.__name__}): {_changed(self._last_leaves, leaves)}; "
                          f"retracing ({len(self._cache) + 1} cached variants)", RetraceWarning,
                          stacklevel=3)
        entry = self._cache[key] = _Entry()
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._last_leaves = leaves
        return entry

    def _modules(self) -> list[tuple[str, Any]]:
        """Modules whose training flag keys the cache: a traced Module, else the Modules the
        function names directly (globals and closure)."""
        from unified.nn.module import Module

        if self.module is not None:
            return [("self", self.module)]
        return [(n, v) for n, v in _named_objects(self.fn) if isinstance(v, Module)]

    def _state_names(self) -> dict[int, str]:
        """Readable param names for the printed graph: module paths and optimizer state."""
        from unified.nn.module import Module
        from unified.optim.optimizer import Optimizer

        names: dict[int, str] = {}
        objects = [("", self.module)] if self.module is not None else _named_objects(self.fn)
        for prefix, obj in objects:
            if isinstance(obj, Module):
                dot = f"{prefix}." if prefix else ""
                for n, t in list(obj.named_parameters()) + list(obj.named_buffers()):
                    names.setdefault(id(t._data), dot + n)
                    if t.grad is not None:
                        names.setdefault(id(t.grad._data), f"{dot}{n}.grad")
            elif isinstance(obj, Optimizer):
                for i, state in enumerate(obj.state.values()):
                    for k, v in state.items():
                        if isinstance(v, Tensor):
                            names.setdefault(id(v._data), f"{prefix}.state{i}.{k}")
        return names

    # ---- inspection -----------------------------------------------------------------------
    @property
    def graph(self):
        """The most recently recorded graph (prints one line per node)."""
        return self._recording().graph

    def _recording(self) -> record.Recording:
        if self._last_rec is None:
            raise RuntimeError(f"trace({self.__name__}): no graph yet; call the function once "
                               "to record one")
        return self._last_rec

    def memory_report(self) -> MemoryReport:
        """The memory plan of the most recent graph after the pass pipeline (arena vs the sum
        of its buffers, one line per tensor), with the eager peak of the same step measured
        while it was recorded. Prints as a table; `arena_bytes`, `traced_bytes` and
        `eager_peak_bytes` hold the figures."""
        rec = self._recording()
        runner = rec.compiled
        exe = runner.exe if isinstance(runner, replay.PlanReplay) else None
        if exe is None:
            from unified.tracer import pipeline

            exe = pipeline.compile(rec.graph)
        return MemoryReport(exe, rec.eager_peak)

    def plot_memory(self, path: Any) -> str:
        """Write a PNG timeline of the most recent graph's memory plan to `path`: each arena
        buffer as a rectangle over its lifetime (steps) and arena offsets (tracer/memory_plot.py).
        Needs matplotlib (optional: `pip install matplotlib`); returns the path."""
        from unified.tracer import memory_plot

        return memory_plot.plot(self.memory_report().plan, path)

    def profile(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function once (a replay: it has its usual effect) with the plan's step
        timeline on; returns a tracer/profile.py Timeline of compute steps and all-reduce
        intervals (`.hidden_fraction`, `.table()`, `.plot(path)`)."""
        from unified.tracer import profile

        return profile.run(self, args, kwargs)


def trace(fn: Callable[..., Any] | None = None, *, strict: bool = False,
          cache_size: int = 8, backend: str = "plan", check: bool = False) -> Any:
    """Trace `fn` (a function or a Module) into a static graph: `@U.trace`, `U.trace(fn)`,
    `U.trace(strict=True)(fn)` or `U.trace(model)`. With strict=True a failed guard (a tensor
    value read into Python that differs on replay) raises a TraceError naming the line instead
    of re-recording. backend="interpret" replays node by node instead of through the lowered
    C++ plan. check=True (while developing) runs every call eagerly while recording and
    raises a TraceError at the first op that differs from the graph replay would run (a
    captured Python value that changes; tracer/check.py). A call that changes only dim 0
    (the batch size) of tensor arguments reuses the graph when shape inference allows
    (tracer/batch.py). See `Traced` for what a replay does.

    >>> import unified as U
    >>> f = U.trace(lambda x: x * 2.0 + 1.0)
    >>> [f(U.tensor([1.0, 2.0])).tolist() for _ in range(3)][-1]
    [3.0, 5.0]
    """
    if fn is None:
        return lambda f: trace(f, strict=strict, cache_size=cache_size, backend=backend,
                               check=check)
    from unified.nn.module import Module

    if isinstance(fn, Module):
        return Traced(fn.__call__, strict, cache_size, module=fn, backend=backend, check=check)
    return Traced(fn, strict, cache_size, backend=backend, check=check)


class MemoryReport:
    """Traced.memory_report(): the MemoryPlan report of the lowered graph, then the traced
    total (arena + state + inputs + outputs) beside the eager peak of tensor data of the same
    step (unified.memory's counters during the recording, above what was held before it)."""

    def __init__(self, exe: Any, eager_peak: dict | None) -> None:
        from unified.tracer.passes import memory_plan as mp

        graph = exe.graph
        self.plan = exe.memory
        self.arena_bytes = exe.memory.arena_bytes
        self.state_bytes = sum(mp.nbytes(n.ref()) for n in graph.params())
        self.io_bytes = (sum(mp.nbytes(n.ref()) for n in graph.inputs())
                         + sum(mp.nbytes(r) for r in graph.outputs))
        self.traced_bytes = self.arena_bytes + self.state_bytes + self.io_bytes
        self.eager_peak_bytes = None if eager_peak is None else eager_peak["peak_bytes"]

    def __str__(self) -> str:
        eager = ("not measured" if self.eager_peak_bytes is None
                 else f"{self.eager_peak_bytes:,} bytes")
        traced = (f"traced: {self.traced_bytes:,} bytes = arena {self.arena_bytes:,} + state "
                  f"{self.state_bytes:,} + inputs/outputs {self.io_bytes:,}")
        return "\n".join([self.plan.report(), traced,
                          f"eager peak of the same step (tensor data held at once): {eager}"])

    __repr__ = __str__


def _refuse_anomaly_mode(name: str) -> None:
    """A replay runs no Python per op, so unified.debug's per-op NaN/Inf checks cannot run."""
    anomaly = sys.modules.get("unified.debug.anomaly")  # not loaded: anomaly mode is off
    if anomaly is not None and anomaly.is_anomaly_enabled():
        raise TraceError(
            f"trace({name}): detect_anomaly runs only eagerly; a traced function runs its graph "
            f"without per-op checks. Call the undecorated function ({name}.fn) inside "
            "detect_anomaly(), or leave anomaly mode off around traced calls")


def _record_measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, record.Recording]:
    """record.record, noting the eager peak of tensor memory during the call (for
    memory_report). Resets the peak statistic, as recording happens on the first calls."""
    before = memory.memory_stats()
    memory.reset_peak_memory_stats()
    result, rec = record.record(fn, *args)
    rec.eager_peak = memory.memory_stats()
    rec.eager_peak["peak_bytes"] -= before["current_bytes"]
    rec.eager_peak["current_bytes"] -= before["current_bytes"]
    return result, rec


# ---- helpers ---------------------------------------------------------------------------------
def _flatten(value: Any, path: str, flat: list, names: list, leaves: list) -> Any:
    """The argument tree's structure; tensors go to `flat`, every leaf to `leaves`."""
    from unified.nn.module import Module

    if isinstance(value, Tensor):
        flat.append(value)
        names.append(path)
        leaves.append((path, ("T", tuple(value.shape), value.dtype.str, value.requires_grad)))
        return "T"
    if isinstance(value, (tuple, list)):  # namedtuples too: their tensors are arguments
        return (type(value).__qualname__, tuple(_flatten(v, f"{path}[{i}]", flat, names, leaves)
                                            for i, v in enumerate(value)))
    if type(value) is dict:
        return ("dict", tuple((k, _flatten(v, f"{path}[{k!r}]", flat, names, leaves))
                              for k, v in value.items()))
    if isinstance(value, Module):
        leaf = ("M", id(value), _flags(value))
    else:
        try:
            hash(value)
            leaf = ("V", type(value).__name__, value)
        except TypeError:
            leaf = ("id", id(value))
    leaves.append((path, leaf))
    return "V"


def _flags(module: Any) -> tuple[bool, ...]:
    return tuple(m.training for m in module.modules())


def _named_objects(fn: Any) -> list[tuple[str, Any]]:
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = [(n, fn.__globals__[n]) for n in code.co_names if n in fn.__globals__]
    for n, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            found.append((n, cell.cell_contents))
        except ValueError:  # an empty cell
            pass
    return found


def _describe(leaf: Any) -> str:
    if leaf[0] == "T":
        return fmt_meta(TensorMeta(leaf[1], np.dtype(leaf[2])))
    if leaf[0] == "V":
        return repr(leaf[2])
    return str(leaf[-1])


def _changed(old: list, new: list) -> str:
    """'argument 'x' shape changed f32[32,784] -> f32[16,784]' (the first differing leaf)."""
    before = dict(old)
    for path, leaf in new:
        if path not in before:
            return f"new argument '{path}'"
        if before[path] != leaf:
            what = "shape" if leaf[0] == "T" and before[path][0] == "T" else "value"
            return (f"argument '{path}' {what} changed {_describe(before[path])} -> "
                    f"{_describe(leaf)}")
    return "the argument structure changed"


def _build(spec: Any, flat: list, outputs: list) -> Any:
    kind = spec[0]
    if kind == "arg":
        return flat[spec[1]]
    if kind == "state":
        return spec[1]
    if kind == "out":
        return outputs[spec[1]]
    if kind == "py":
        return spec[1]
    if kind is dict:
        return {k: _build(s, flat, outputs) for k, s in zip(spec[1], spec[2])}
    if kind == "namedtuple":
        return spec[1](*(_build(s, flat, outputs) for s in spec[2]))
    return kind(_build(s, flat, outputs) for s in spec[1])
