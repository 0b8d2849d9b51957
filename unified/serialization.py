"""unified.save / unified.load: checkpoints of state dicts (nested dicts, lists and tuples of
tensors, NumPy arrays, numbers, strings, bools and None) in a small versioned binary format
with a CRC32 per tensor and for the header (spec: FORMAT-checkpoint.md beside this file).
There is no pickle: loading never executes code. Saving to a path is atomic (_atomic.py)."""

from __future__ import annotations

import collections
import io
import json
import math
import os
import zlib
from typing import Any, BinaryIO

import numpy as np

from unified._atomic import atomic_write
from unified._checkpoint_read import (ARRAY_DTYPES, FORMAT_VERSION, MAGIC, MAX_DEPTH, PREAMBLE,
                                      TENSOR_DTYPES, read_checkpoint)
from unified.errors import located
from unified.tensor import Tensor



@located
def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Write `obj` to the path or binary file `f` (torch.save's argument order). To a path, the
    write is atomic: an existing checkpoint is replaced only once the new one is complete.
    Differences from PyTorch: no pickle, so modules and arbitrary objects cannot be saved (save
    `model.state_dict()`), NumPy scalars are stored as Python numbers, and tensors sharing
    memory are stored separately unless they are the same object.

    >>> import unified as U, io
    >>> buf = io.BytesIO()
    >>> U.save({"w": U.ones(2), "step": 3}, buf); _ = buf.seek(0)
    >>> U.load(buf)["w"].tolist()
    [1.0, 1.0]
    """
    arrays: list[np.ndarray] = []
    entries: list[dict] = []
    tree = _encode(obj, "checkpoint", arrays, entries, {}, 0)
    header = {"format": "unified-checkpoint", "version": FORMAT_VERSION,
              "data_nbytes": sum(e["nbytes"] for e in entries), "tensors": entries, "tree": tree}
    header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes), zlib.crc32(header_bytes))
    if hasattr(f, "write"):
        _write_file(f, preamble + header_bytes, arrays)  # type: ignore[arg-type]
        return
    with atomic_write(f) as out:  # type: ignore[arg-type]
        _write_file(out, preamble + header_bytes, arrays)


def _write_file(out: BinaryIO, head: bytes, arrays: list[np.ndarray]) -> None:
    out.write(head)
    for array in arrays:
        _write_tensor_data(out, array)


def _write_tensor_data(out: BinaryIO, array: np.ndarray) -> None:
    out.write(memoryview(array.reshape(-1).view(np.uint8)))


def _encode(obj: Any, path: str, arrays: list, entries: list, seen: dict, depth: int) -> Any:
    """obj as a JSON node (see FORMAT-checkpoint.md); tensor data is appended to `arrays`."""
    if depth > MAX_DEPTH:
        raise ValueError(f"save: {path} is nested more than {MAX_DEPTH} levels deep")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return {"int": int(obj)}
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return {"float": value if math.isfinite(value) else repr(value)}
    if isinstance(obj, Tensor):
        node = {"tensor": _add_array(obj._data, path, arrays, entries, seen, obj, TENSOR_DTYPES)}
        if obj.requires_grad:
            node["requires_grad"] = True
        if _is_parameter(obj):
            node["parameter"] = True
        return node
    if isinstance(obj, np.ndarray):
        return {"ndarray": _add_array(obj, path, arrays, entries, seen, obj, ARRAY_DTYPES)}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, f"{path}[{i}]", arrays, entries, seen, depth + 1)
                       for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if key is not None and not isinstance(key, (str, int, float)):
                raise TypeError(f"save: {path} has a key of type {type(key).__name__} ({key!r}); "
                                "dict keys must be str, int, float, bool or None")
            items.append([_encode(key, path, arrays, entries, seen, depth + 1),
                          _encode(value, f"{path}[{key!r}]", arrays, entries, seen, depth + 1)])
        kind = "ordered_dict" if isinstance(obj, collections.OrderedDict) else "dict"
        return {kind: items}
    hint = " (save model.state_dict() instead)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save: cannot save {path} of type {type(obj).__name__}{hint}; checkpoints "
                    "hold tensors, NumPy arrays, numbers, strings, bools, None and dicts, lists "
                    "and tuples of them (no pickle)")


def _add_array(array: np.ndarray, path: str, arrays: list, entries: list, seen: dict,
               owner: Any, allowed: tuple) -> int:
    """Index of `owner`'s data in the tensor table (the same object is stored once)."""
    if id(owner) in seen:
        return seen[id(owner)][0]
    if array.dtype.name not in allowed:
        raise TypeError(f"save: {path} has dtype {array.dtype}; supported: {', '.join(allowed)}")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    offset = entries[-1]["offset"] + entries[-1]["nbytes"] if entries else 0
    crc = zlib.crc32(memoryview(data.reshape(-1).view(np.uint8)))
    entries.append({"name": path, "dtype": array.dtype.name, "shape": list(array.shape),
                    "offset": offset, "nbytes": int(data.nbytes), "crc32": crc})
    arrays.append(data)
    seen[id(owner)] = (len(entries) - 1, owner)  # keep owner alive so its id stays unique
    return len(entries) - 1


def _is_parameter(t: Tensor) -> bool:
    return type(t).__name__ == "Parameter" and type(t).__module__.startswith("unified.nn")


@located
def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None) -> Any:
    """Read a checkpoint written by `save` from a path or binary file (torch.load's names).
    Every tensor is checked against its CRC32; a truncated, corrupted or foreign file raises
    unified.errors.CheckpointError naming the file, the field or offset and the values.
    `weights_only` has no effect (loading never runs code); map_location may only be
    None or "cpu"; mmap is not supported.

    >>> import unified as U, io
    >>> buf = io.BytesIO(); U.save([U.arange(3), (1.5, None)], buf); _ = buf.seek(0)
    >>> U.load(buf)
    [tensor([0, 1, 2], dtype=int64), (1.5, None)]
    """
    if map_location is not None and str(map_location) != "cpu":
        raise RuntimeError(f"load: map_location={map_location!r} is not available (CPU only); "
                           "use None or 'cpu'")
    if mmap:
        raise ValueError("load: mmap=True is not supported; tensors are read into memory")
    if hasattr(f, "read"):
        name = getattr(f, "name", None) or "<file object>"
        source = f if hasattr(f, "seek") and f.seekable() else io.BytesIO(f.read())
        return read_checkpoint(source, str(name))  # type: ignore[arg-type]
    with open(f, "rb") as source:  # type: ignore[arg-type]
        return read_checkpoint(source, os.fspath(f))
