"""The .ufb inference bundle: `save_bundle` writes a traced inference function's lowered plan,
weights and reference pairs to one versioned file (export/FORMAT.md); `load_bundle` checks it
in C++ (core_cpp/bundle/bundle_reader.cpp, through `_core.Bundle`) and runs it there.

    export.save_bundle(infer, example, "digits.ufb", metadata={"class_names": names})
    m = export.load_bundle("digits.ufb")
    values, indices = m(img_u8)     # the function's result structure, as Tensors
    m.verify()                      # max abs diff over the stored reference pairs

Writing:
 1. freeze.inference_graph(fn, example): the frozen graph, example inputs and eager outputs.
 2. tracer/pipeline.compile (fusion, in-place, memory plan, lowering) gives the same
    LoweredPlan a trace runs (tracer/lower.py).
 3. Data section: every constant, then every reference tensor, each at a 64-byte aligned
    offset. FlatBuffer (export/bundle.fbs, encoded by export/bundle_encode.py): plan, data
    section place and CRC-32, metadata, references, output structure. Preamble: magic,
    version, size, CRC-32.
 4. Written atomically (unified/_atomic.py).
Loading: the bytes (mmap of a path, or a bytes-like) go to `_core.Bundle`, which checks
everything it needs to run safely; then each step is re-checked against its op's shape
inference (the C++ kernels trust shapes to agree) and the output structure is parsed. Any
problem is a BundleError naming the file and the field.
Dynamic batch: save_bundle(..., dynamic_batch=True) writes format 2 (export/bundle_dynamic.py
fits how every integer of the plan moves with the batch N); `Bundle.run` re-plans in C++
(core_cpp/bundle/bundle_batch.cpp) when the inputs' batch changes.
Limits: without dynamic_batch a bundle runs at the recorded shapes only (dynamic_axes are
recorded, not used).
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import json
import mmap
import os
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import unified
from unified import _core
from unified._atomic import atomic_write
from unified.errors import BundleError, ExportError
from unified.export.bundle_dynamic import BatchPlan, example_batch, fit_batch
from unified.export.bundle_encode import (FORMAT_VERSION, FORMAT_VERSION_DYNAMIC, MAGIC,
                                          PREAMBLE_BYTES, DataSection, Encoder, align)
from unified.export.freeze import InferenceGraph, _flat_tensors, inference_graph
from unified.grad_mode import no_grad
from unified.ops.registry import TensorMeta, lookup
from unified.tensor import Tensor
from unified.tracer import pipeline
from unified.tracer.trace import Traced

RESERVED_KEYS = ("framework_version", "created_utc", "content_hash", "name")
_DYNAMIC = dict[str, dict[int, str]]


# ---- writing ---------------------------------------------------------------------------------
def save_bundle(fn: Callable[..., Any], example: Sequence[Any] | Tensor, path: str | os.PathLike,
                *, metadata: dict[str, Any] | None = None, references: Any = "example",
                dynamic_axes: _DYNAMIC | None = None,
                output_names: Sequence[str] | None = None, dynamic_batch: bool = False,
                max_batch: int | None = None) -> None:
    """Write `fn` traced on `example` to the bundle file `path` (steps 1-4 above).

    metadata: your key -> value pairs (each value JSON-encodable; lists survive), read back as
    `Bundle.metadata`. references: "example" stores the example and its eager outputs; a list
    of argument tuples stores each with its eager outputs; None stores none.
    dynamic_axes: {input or output name: {axis: symbol}}, recorded only (format 1).
    dynamic_batch: the bundle runs at any batch N in 1..max_batch (default 4096), dim 0 of
    every tensor argument (format 2; export/bundle_dynamic.py says which graphs can)."""
    example = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    if dynamic_batch:  # before recording: a mismatch would fail there less clearly
        example_batch(example, f"save_bundle({getattr(fn, '__name__', type(fn).__name__)})")
    ig = inference_graph(fn, example, output_names=output_names)
    exe = pipeline.compile(ig.graph)
    lowered = exe.lowered
    if lowered.params:
        raise ExportError(f"save_bundle({ig.name}): the frozen graph still has state inputs")
    pairs = _reference_pairs(fn, ig, references)
    batch = None
    if dynamic_batch:
        if dynamic_axes:
            raise ValueError("save_bundle: give dynamic_batch or dynamic_axes, not both "
                             "(dynamic_batch names the batch axes 'N' itself)")
        batch = fit_batch(fn, example, output_names, max_batch, (ig, exe))
        dynamic_axes = _batch_axes(ig, batch)
    elif max_batch is not None:
        raise ValueError("save_bundle: max_batch needs dynamic_batch=True")
    dynamic = _check_dynamic(ig, dynamic_axes or {})
    user = _user_metadata(metadata or {})
    data = DataSection()
    consts = [data.add(value) for value in lowered.consts]
    const_end = data.nbytes
    ref_slots = [([data.add(a) for a in ins], [data.add(a) for a in outs]) for ins, outs in pairs]
    structure = json.dumps(_structure_json(ig.out_spec))
    core = Encoder(ig, lowered, dynamic, consts, structure, batch).finish(
        (0, const_end, data.crc32(const_end)), None, [])
    digest = hashlib.sha256(core)
    for chunk in data.chunks(const_end):
        digest.update(chunk)
    meta = {"framework_version": unified.__version__, "created_utc": _utc_now(),
            "content_hash": digest.hexdigest(), "name": ig.name}
    encoder = Encoder(ig, lowered, dynamic, consts, structure, batch)
    crc = data.crc32()
    # data.offset depends on the buffer's size; the field has a fixed width (every scalar is
    # written), so a second pass with the right offset gives a buffer of the same size
    buf = encoder.finish((PREAMBLE_BYTES, data.nbytes, crc), (meta, user), ref_slots)
    start = align(PREAMBLE_BYTES + len(buf))
    buf = encoder.finish((start, data.nbytes, crc), (meta, user), ref_slots)
    if align(PREAMBLE_BYTES + len(buf)) != start:
        raise RuntimeError("save_bundle: the FlatBuffer changed size between passes")
    version = FORMAT_VERSION if batch is None else FORMAT_VERSION_DYNAMIC
    preamble = MAGIC + struct.pack("<IQI", version, len(buf), zlib.crc32(buf))
    with atomic_write(path) as f:
        f.write(preamble.ljust(PREAMBLE_BYTES, b"\0"))
        f.write(buf)
        f.write(b"\0" * (start - PREAMBLE_BYTES - len(buf)))
        for chunk in data.chunks():
            f.write(chunk)


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _batch_axes(ig: InferenceGraph, batch: BatchPlan) -> _DYNAMIC:
    """Every dim moving with the batch, named 'N' (or 'a*N+b' when it is not N itself)."""
    axes: _DYNAMIC = {}
    for side, arrays, names in (("inputs", ig.example_inputs, ig.input_names),
                                ("outputs", ig.example_outputs, ig.output_names)):
        for k, (name, array) in enumerate(zip(names, arrays)):
            for d, size in enumerate(array.shape):
                a = batch.slope(f"{side}[{k}].shape[{d}]")
                if a:
                    b = size - a * batch.saved
                    symbol = "N" if (a, b) == (1, 0) else f"{a}*N{b:+d}" if b else f"{a}*N"
                    axes.setdefault(name, {})[d] = symbol
    return axes


def _reference_pairs(fn: Callable[..., Any], ig: InferenceGraph,
                     references: Any) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    if references is None:
        return []
    if isinstance(references, str):
        if references != "example":
            raise ValueError(f"save_bundle: references={references!r}: use 'example', None or "
                             "a list of argument tuples")
        return [(ig.example_inputs, ig.example_outputs)]
    call = fn.fn if isinstance(fn, Traced) else fn  # a U.trace object: its eager function
    pairs = []
    for k, args in enumerate(references):
        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        inputs = [np.ascontiguousarray(a._data if isinstance(a, Tensor) else a) for a in args]
        _check_arrays(f"save_bundle: references[{k}]", ig.input_names, inputs,
                      [(a.shape, a.dtype) for a in ig.example_inputs])
        with no_grad():
            result = call(*(Tensor(a) if isinstance(a, np.ndarray) else a for a in args))
        outputs = [np.array(t._data, copy=True) for t in _flat_tensors(result)]
        pairs.append((inputs, outputs))
    return pairs


def _check_dynamic(ig: InferenceGraph, dynamic_axes: _DYNAMIC) -> _DYNAMIC:
    """{name: {axis: symbol}} checked against the graph's inputs and outputs."""
    ranks = {n: len(a.shape) for n, a in zip(ig.input_names, ig.example_inputs)}
    ranks.update({n: len(a.shape) for n, a in zip(ig.output_names, ig.example_outputs)})
    for name, axes in dynamic_axes.items():
        if name not in ranks:
            raise ValueError(f"save_bundle: dynamic_axes names {name!r}, which is no input or "
                             f"output (inputs {ig.input_names}, outputs {ig.output_names})")
        for axis, symbol in axes.items():
            if not (isinstance(axis, int) and 0 <= axis < ranks[name]) or not isinstance(
                    symbol, str):
                raise ValueError(f"save_bundle: dynamic_axes[{name!r}] = {{{axis!r}: "
                                 f"{symbol!r}}}: need an axis in 0..{ranks[name] - 1} and a "
                                 "symbol name")
    return dynamic_axes


def _user_metadata(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    items = []
    for key, value in metadata.items():
        if not isinstance(key, str) or key in RESERVED_KEYS:
            raise ValueError(f"save_bundle: metadata key {key!r} must be a string other than "
                             f"{', '.join(RESERVED_KEYS)}")
        try:
            items.append((key, json.dumps(value)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"save_bundle: metadata[{key!r}] is not JSON-encodable: "
                             f"{exc}") from exc
    return items


def _structure_json(spec: Any) -> Any:
    """freeze.py's out spec as JSON (export/FORMAT.md, "Output structure")."""
    kind = spec[0]
    if kind == "out":
        return {"out": spec[1]}
    if kind is dict:
        for key in spec[1]:
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ExportError(f"save_bundle: result dict key {key!r} is not a str or number")
        return {"dict": [[k, _structure_json(s)] for k, s in zip(spec[1], spec[2])]}
    if kind == "namedtuple":
        cls = spec[1]
        return {"namedtuple": cls.__qualname__, "module": cls.__module__,
                "fields": list(cls._fields), "items": [_structure_json(s) for s in spec[2]]}
    name = "list" if kind is list else "tuple"
    return {name: [_structure_json(s) for s in spec[1]]}


# ---- loading ---------------------------------------------------------------------------------
def load_bundle(source: str | os.PathLike | bytes | bytearray | memoryview, *,
                copy: bool = False) -> Bundle:
    """Check and load a bundle from a path (memory-mapped) or from bytes. Raises BundleError
    naming the file and what is wrong. copy=True copies the bytes instead of using them in
    place."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    else:
        name, data = "<bytes>", source
    try:
        core = _core.Bundle(data, copy)
    except ValueError as exc:
        raise BundleError(f"{name}: {exc}") from None
    return Bundle(core, name, data)


class Bundle:
    """A loaded bundle: call it like the exported function (see the module doc)."""

    def __init__(self, core: Any, name: str, data: Any = None) -> None:
        self._core, self.name, self._data = core, name, data
        self._inputs = core.inputs
        self._outputs = core.outputs
        self._check_steps()
        self._structure = self._parse_structure(core.out_structure)
        self._metadata = self._parse_metadata()

    # ---- interface ----
    @property
    def input_names(self) -> list[str]:
        return [s[0] for s in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return [s[0] for s in self._outputs]

    @property
    def metadata(self) -> dict[str, Any]:
        """framework_version, created_utc, content_hash, name, then your keys (decoded)."""
        return dict(self._metadata)

    @property
    def kernels(self) -> list[str]:
        return list(self._core.kernels)

    @property
    def arena_bytes(self) -> int:
        return self._core.arena_bytes

    @property
    def num_references(self) -> int:
        return len(self._core.references)

    @property
    def batch(self) -> int | None:
        """The batch the plan runs at now (a bundle saved with dynamic_batch=True runs at any
        batch 1..max_batch: `run` re-plans when the inputs' batch changes); None when fixed."""
        return self._core.batch[0] or None

    @property
    def max_batch(self) -> int | None:
        return self._core.batch[1] or None

    def run(self, *inputs: Any) -> list[np.ndarray]:
        """The flat outputs (new arrays) for `inputs` (Tensors or arrays, in input order)."""
        arrays = [np.ascontiguousarray(a._data if isinstance(a, Tensor) else a) for a in inputs]
        if len(arrays) == len(self._inputs):
            self._select_batch(arrays)
        _check_arrays(f"bundle {self.name}", self.input_names, arrays,
                      [(s[2], np.dtype(s[1])) for s in self._inputs],
                      [s[3] for s in self._inputs] if self.batch is not None else None)
        return self._run(arrays)

    def _select_batch(self, arrays: list[np.ndarray]) -> None:
        """Re-plan at the inputs' batch (the dims their specs name 'N'), which must agree."""
        if self.batch is None:
            return
        seen = {}
        for (name, _, shape, dynamic), a in zip(self._inputs, arrays):
            for axis, symbol in dynamic.items():
                if symbol == "N" and a.ndim == len(shape):
                    seen[name] = a.shape[axis]
        sizes = set(seen.values())
        if len(sizes) > 1:
            raise ValueError(f"bundle {self.name}: the inputs' batch sizes differ ("
                             + ", ".join(f"{k}: {v}" for k, v in seen.items())
                             + "); all batch-dynamic inputs must agree")
        if not sizes or sizes == {self.batch}:
            return
        n = sizes.pop()
        if not 1 <= n <= (self.max_batch or 0):
            raise ValueError(f"bundle {self.name}: batch {n} is outside 1..{self.max_batch} "
                             "(save_bundle max_batch)")
        try:
            self._core.set_batch(n)
        except (ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise BundleError(f"{self.name}: {exc}") from None  # C++ says "bundle: ..."
        self._inputs, self._outputs = self._core.inputs, self._core.outputs
        self._check_steps()  # the op's shape inference agrees at this batch too

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        # the inputs are checked, so a kernel refusing its step is the file's fault
        try:
            return self._core.run(arrays)
        except (ValueError, TypeError, IndexError) as exc:  # not "already running"
            raise self._fail(str(exc)) from None

    def __call__(self, *inputs: Any) -> Any:
        """The exported function's result (its tuple/dict/... structure, with Tensors)."""
        return _build(self._structure, [Tensor(a) for a in self.run(*inputs)])

    def verify(self, atol: float = 1e-5, rtol: float = 1e-5) -> float:
        """Run every stored reference pair; returns the largest abs difference. Raises
        BundleError when an output differs by more than atol + rtol * |reference|."""
        refs = self._core.references
        if not refs:
            raise BundleError(f"{self.name}: no reference pairs stored (saved with "
                              "references=None)")
        worst = 0.0
        for k, (inputs, expected) in enumerate(refs):
            self._select_batch(list(inputs))  # references are at the saved batch
            for name, got, want in zip(self.output_names, self._run(list(inputs)),
                                       expected):
                got, want = got.astype(np.float64), want.astype(np.float64)
                diff = np.abs(got - want)
                bad = diff > atol + rtol * np.abs(want)
                if diff.size:
                    worst = max(worst, float(np.nanmax(diff)))
                if bad.any() or (np.isnan(got) != np.isnan(want)).any():
                    raise BundleError(f"{self.name}: reference pair {k}: output {name!r} differs "
                                      f"by up to {float(np.nanmax(diff)):.3g} (atol {atol}, "
                                      f"rtol {rtol})")
        return worst

    def summary(self) -> str:
        """A readable description: inputs/outputs, ops, constants, arena, kernels, metadata."""
        md = self._metadata
        lines = [f"bundle {self.name} (format {self._core.format_version}, unified "
                 f"{md['framework_version']}, created {md['created_utc']})",
                 f"  function {md['name']}, content sha256 {md['content_hash'][:16]}"]
        lines.append("inputs:")
        lines += [f"  {_fmt_spec(s)}" for s in self._inputs]
        lines.append("outputs:")
        lines += [f"  {_fmt_spec(s)}" for s in self._outputs]
        steps = self._core.steps
        counts = collections.Counter(s[1] or s[0] for s in steps)
        lines.append(f"ops ({len(steps)} steps):")
        lines += [f"  {op:<24} x{n}" for op, n in sorted(counts.items(), key=lambda i: (-i[1],
                                                                                         i[0]))]
        consts = self._core.consts
        lines.append(f"constants: {len(consts)}, {sum(c[3] for c in consts):,} bytes")
        lines.append(f"arena: {self.arena_bytes:,} bytes planned")
        if self.batch is not None:
            lines.append(f"batch: dynamic, N in 1..{self.max_batch} (now {self.batch})")
        lines.append(f"kernels ({len(self.kernels)}): {', '.join(self.kernels)}")
        user = [(k, v) for k, v in md.items() if k not in RESERVED_KEYS]
        lines.append("metadata:" if user else "metadata: none")
        lines += [f"  {k}: {json.dumps(v)}" for k, v in user]
        lines.append(f"reference pairs: {self.num_references}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Bundle({self.name!r}, inputs={self.input_names}, "
                f"outputs={self.output_names})")

    # ---- checks on load ----
    def _fail(self, what: str) -> BundleError:
        return BundleError(f"{self.name}: bundle: {what}")

    def _check_steps(self) -> None:
        """Each step against its op: registered, the op's kernel, and the op's shape
        inference gives the stored outputs (kernels trust shapes to agree)."""
        for k, (kernel, op_name, label, ins, outs, attrs) in enumerate(self._core.steps):
            where = f"plan.steps[{k}] ({op_name} {label!r})"
            try:
                op = lookup(op_name)
            except KeyError:
                raise self._fail(f"{where}: unknown op {op_name!r}") from None
            if op.kernel != kernel:
                raise self._fail(f"{where}: op {op_name} runs kernel {op.kernel!r}, the step "
                                 f"names {kernel!r}")
            metas = [TensorMeta(tuple(o[4]), np.dtype(o[3])) for o in ins]
            want = [TensorMeta(tuple(o[4]), np.dtype(o[3])) for o in outs]
            if not attrs and op_name == "cast":  # a copy step
                got = metas[:1] if len(metas) == 1 else None
            else:
                try:
                    result = op.infer(*metas, **attrs)
                    got = list(result) if op.num_outputs > 1 else [result]
                    got = [TensorMeta(tuple(int(d) for d in m.shape), np.dtype(m.dtype))
                           for m in got]
                except Exception as exc:  # hostile attrs can break infer in any way
                    raise self._fail(f"{where}: shape inference fails: {exc}") from None
            if got != want:
                raise self._fail(f"{where}: inputs {_fmt_metas(metas)} give "
                                 f"{_fmt_metas(got or [])}, the step writes {_fmt_metas(want)}")

    def _parse_structure(self, text: str) -> Any:
        n = len(self._outputs)
        seen: list[int] = []
        try:
            structure = json.loads(text) if text else {"tuple": [{"out": k}
                                                                   for k in range(n)]}
            _walk_structure(structure, seen)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            raise self._fail(f"out_structure {text[:80]!r} is malformed: {exc}") from None
        if sorted(seen) != list(range(n)):
            raise self._fail(f"out_structure uses outputs {sorted(seen)}, the plan has {n}")
        return structure

    def _parse_metadata(self) -> dict[str, Any]:
        md: dict[str, Any] = dict(self._core.metadata)
        for key, text in self._core.user_metadata:
            try:
                md[key] = json.loads(text)
            except ValueError:
                raise self._fail(f"metadata[{key!r}] is not JSON: {text[:80]!r}") from None
        return md


def _check_arrays(where: str, names: list[str], arrays: list[np.ndarray],
                  specs: list[tuple[tuple[int, ...], np.dtype]],
                  dynamic: list[dict[int, str]] | None = None) -> None:
    """The inputs' count, dtypes and shapes against the recorded ones, with a clear error."""
    if len(arrays) != len(specs):
        raise TypeError(f"{where}: takes {len(specs)} inputs ({', '.join(names)}), got "
                        f"{len(arrays)}")
    for k, (name, a, (shape, dtype)) in enumerate(zip(names, arrays, specs)):
        if a.dtype != dtype:
            raise TypeError(f"{where}: input {name!r} must be {dtype.name}, got {a.dtype.name}")
        if tuple(a.shape) != tuple(shape) and dynamic is not None:
            dims = ", ".join(dynamic[k].get(i, str(d)) for i, d in enumerate(shape))
            raise ValueError(f"{where}: takes input {name!r} of shape [{dims}], got "
                             f"{tuple(a.shape)} (only the batch may change)")
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{where}: was saved for input {name!r} of shape {tuple(shape)}, "
                             f"got {tuple(a.shape)} (saved without dynamic_batch=True, it runs "
                             "at the recorded shapes only)")


def _walk_structure(s: Any, seen: list[int]) -> None:
    """Check a parsed output structure; collects the output indices it uses."""
    if not isinstance(s, dict):
        raise TypeError(f"node {s!r} is not an object")
    if "namedtuple" in s:
        fields, items = s["fields"], s["items"]
        if not all(isinstance(f, str) for f in fields) or len(fields) != len(items):
            raise ValueError("namedtuple fields and items differ")
        kind, value = "tuple", items
    elif len(s) == 1:
        (kind, value), = s.items()
    else:
        raise KeyError(f"unknown node {sorted(s)}")
    if kind == "out":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"output index {value!r}")
        seen.append(value)
    elif kind in ("tuple", "list"):
        for sub in value:
            _walk_structure(sub, seen)
    elif kind == "dict":
        for key, sub in value:
            hash(key)
            _walk_structure(sub, seen)
    else:
        raise KeyError(f"unknown node {kind!r}")


def _build(s: dict, outputs: list) -> Any:
    if "out" in s:
        return outputs[s["out"]]
    if "tuple" in s:
        return tuple(_build(x, outputs) for x in s["tuple"])
    if "list" in s:
        return [_build(x, outputs) for x in s["list"]]
    if "dict" in s:
        return {k: _build(x, outputs) for k, x in s["dict"]}
    items = [_build(x, outputs) for x in s["items"]]
    return _namedtuple(s)(*items)


def _namedtuple(s: dict) -> type:
    """The original class when its module is already imported (never imports), else an
    equivalent collections.namedtuple."""
    owner: Any = sys.modules.get(s.get("module", ""))
    for part in str(s["namedtuple"]).split("."):
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and issubclass(owner, tuple) and list(
            getattr(owner, "_fields", ())) == s["fields"]:
        return owner
    name = s["namedtuple"].rsplit(".", 1)[-1]
    return collections.namedtuple(name if name.isidentifier() else "result", s["fields"],
                                  rename=True)


def _fmt_spec(spec: tuple) -> str:
    name, dtype, shape, dynamic = spec
    dims = ", ".join(dynamic.get(i, str(d)) for i, d in enumerate(shape))
    return f"{name}: {dtype}[{dims}]"


def _fmt_metas(metas: list[TensorMeta]) -> str:
    return ", ".join(f"{m.dtype.name}{list(m.shape)}" for m in metas) or "nothing"


__all__ = ["Bundle", "load_bundle", "save_bundle"]
