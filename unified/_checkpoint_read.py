"""Reading and checking a checkpoint file (layout: FORMAT-checkpoint.md): every field is
validated before it is used, so a truncated, corrupted or hostile file raises CheckpointError
naming the file, the field or byte offset and the values, and never allocates more than the
file's size. The constants of the format live here; serialization.py writes files."""

from __future__ import annotations

import collections
import json
import math
import struct
import zlib
from typing import Any, BinaryIO

import numpy as np

from unified.errors import CheckpointError
from unified.tensor import wrap

MAGIC = b"\x89UCKPT\r\n"  # PNG-style: a non-ASCII first byte and a CRLF catch text-mode copies
FORMAT_VERSION = 1
PREAMBLE = struct.Struct("<8sIQI")  # magic, format version, header nbytes, header CRC32
MAX_DEPTH = 200
TENSOR_DTYPES = ("float32", "int32", "int64", "bool", "uint8")
ARRAY_DTYPES = TENSOR_DTYPES + ("float64", "float16", "int8", "int16", "uint16", "uint32",
                                "uint64")
_FOREIGN_HINTS = {b"PK\x03\x04": " (it looks like a zip file, e.g. a PyTorch torch.save file)",
                  b"\x80": " (it looks like a Python pickle, which unified never loads)"}


def read_checkpoint(f: BinaryIO, name: str) -> Any:
    """The object saved in `f` (a seekable binary file; `name` is used in errors)."""
    size = f.seek(0, 2)
    f.seek(0)
    header, data_start = _read_header(f, name, size)
    tables = _check_tensor_table(header, name, data_start, size)
    arrays = [_read_tensor(f, name, data_start, entry, i) for i, entry in enumerate(tables)]
    return _decode(header["tree"], arrays, {}, name, "tree", 0)


def _fail(name: str, message: str) -> CheckpointError:
    return CheckpointError(f"load: {name}: {message}")


def _read_header(f: BinaryIO, name: str, size: int) -> tuple[dict, int]:
    raw = f.read(PREAMBLE.size)
    if not raw:
        raise _fail(name, "not a unified checkpoint: the file is empty")
    if raw[:len(MAGIC)] != MAGIC[:len(raw[:len(MAGIC)])]:
        hint = next((h for k, h in _FOREIGN_HINTS.items() if raw.startswith(k)), "")
        raise _fail(name, f"not a unified checkpoint: bytes 0..{len(MAGIC)} are "
                          f"{raw[:len(MAGIC)]!r}, expected {MAGIC!r}{hint}")
    if len(raw) < PREAMBLE.size:
        raise _fail(name, f"truncated: the file has {size} bytes, fewer than the "
                          f"{PREAMBLE.size}-byte preamble")
    _, version, header_nbytes, header_crc = PREAMBLE.unpack(raw)
    if version != FORMAT_VERSION:
        raise _fail(name, f"unsupported checkpoint format version {version} (the uint32 at "
                          f"offset 8); this unified reads version {FORMAT_VERSION}: upgrade "
                          "unified, or the file is corrupted")
    if PREAMBLE.size + header_nbytes > size:
        raise _fail(name, f"truncated: the header length at offset 12 says {header_nbytes} "
                          f"bytes follow the preamble, but the file has {size} bytes in all")
    header_bytes = f.read(header_nbytes)
    crc = zlib.crc32(header_bytes)
    if crc != header_crc:
        end = PREAMBLE.size + header_nbytes
        raise _fail(name, f"header CRC32 mismatch: stored 0x{header_crc:08x} (offset 20), "
                          f"computed 0x{crc:08x} over bytes {PREAMBLE.size}..{end}; the file "
                          "is corrupted")
    try:
        header = json.loads(header_bytes.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise _fail(name, f"the header is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise _fail(name, f"the header must be a JSON object, got {type(header).__name__}")
    for field, kind in (("tensors", list), ("data_nbytes", int), ("tree", object)):
        if field not in header or not isinstance(header[field], kind):
            raise _fail(name, f"header field '{field}' is missing or not a {kind.__name__}")
    return header, PREAMBLE.size + header_nbytes


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed in a checkpoint header")


def _check_tensor_table(header: dict, name: str, data_start: int, size: int) -> list[dict]:
    """Each entry's fields, and that the entries tile the data section exactly."""
    end = 0
    for i, entry in enumerate(header["tensors"]):
        where = f"tensors[{i}]"
        if not isinstance(entry, dict):
            raise _fail(name, f"header field {where} must be an object")
        for field in ("dtype", "shape", "offset", "nbytes", "crc32", "name"):
            if field not in entry:
                raise _fail(name, f"header field {where}.{field} is missing")
        if entry["dtype"] not in ARRAY_DTYPES:
            raise _fail(name, f"header field {where}.dtype is {entry['dtype']!r}; supported: "
                              f"{', '.join(ARRAY_DTYPES)}")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise _fail(name, f"header field {where}.shape must be a list of non-negative ints, "
                              f"got {shape!r}")
        nbytes = math.prod(shape) * np.dtype(entry["dtype"]).itemsize
        if entry["nbytes"] != nbytes or entry["offset"] != end or not _is_uint(entry["crc32"]):
            raise _fail(name, f"header field {where} ({entry['name']!r}) is inconsistent: "
                              f"offset {entry['offset']!r} (expected {end}), nbytes "
                              f"{entry['nbytes']!r} (a {entry['dtype']} of shape {shape} has "
                              f"{nbytes}), crc32 {entry['crc32']!r}")
        end += nbytes
    if end != header["data_nbytes"]:
        raise _fail(name, f"header field data_nbytes is {header['data_nbytes']}, but the tensors "
                          f"hold {end} bytes")
    if data_start + end > size:
        cut = next(e for e in header["tensors"] if data_start + e["offset"] + e["nbytes"] > size)
        start = data_start + cut["offset"]
        raise _fail(name, f"truncated: the file has {size} bytes but its data ends at byte "
                          f"{data_start + end}; tensor {cut['name']!r} needs bytes "
                          f"{start}..{start + cut['nbytes']}")
    if data_start + end < size:
        raise _fail(name, f"{size - data_start - end} unexpected bytes after the data section "
                          f"(which ends at byte {data_start + end}); the file is corrupted")
    return header["tensors"]


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _read_tensor(f: BinaryIO, name: str, data_start: int, entry: dict, index: int) -> np.ndarray:
    dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    try:
        array = np.empty(entry["shape"], dtype)
    except ValueError as exc:  # too many dims, or dims whose product overflows (with a 0 dim)
        raise _fail(name, f"header field tensors[{index}].shape {entry['shape']} is not "
                          f"valid: {exc}") from None
    offset = data_start + entry["offset"]
    f.seek(offset)
    view = memoryview(array.reshape(-1).view(np.uint8))
    if f.readinto(view) != entry["nbytes"]:  # the file shrank while we read it
        raise _fail(name, f"truncated: tensor {index} {entry['name']!r} at offset {offset}")
    crc = zlib.crc32(view)
    if crc != entry["crc32"]:
        raise _fail(name, f"CRC32 mismatch in tensor {index} {entry['name']!r} ({entry['dtype']} "
                          f"{tuple(entry['shape'])}, bytes {offset}..{offset + entry['nbytes']}): "
                          f"stored 0x{entry['crc32']:08x}, computed 0x{crc:08x}; the file is "
                          "corrupted")
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _decode(node: Any, arrays: list, memo: dict, name: str, where: str, depth: int) -> Any:
    """A JSON node back to the Python object (kinds listed in FORMAT-checkpoint.md); `memo`
    gives one object per tensor table entry, so an object saved twice loads as one."""
    if depth > MAX_DEPTH:
        raise _fail(name, f"{where} is nested more than {MAX_DEPTH} levels deep")
    if node is None or isinstance(node, (bool, str)):
        return node
    if not isinstance(node, dict) or len(node) < 1:
        raise _fail(name, f"header field {where} is not a valid node: {str(node)[:80]}")
    kind, value = next(iter(node.items()))
    if kind in ("int", "float") and isinstance(value, (int, float, str)):
        return _number(kind, value, name, where)
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [_decode(v, arrays, memo, name, f"{where}.{kind}[{i}]", depth + 1)
                 for i, v in enumerate(value)]
        return items if kind == "list" else tuple(items)
    if kind in ("dict", "ordered_dict") and isinstance(value, list):
        out = {} if kind == "dict" else collections.OrderedDict()
        for i, pair in enumerate(value):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _fail(name, f"header field {where}.{kind}[{i}] must be a [key, value] pair")
            key = _decode(pair[0], arrays, memo, name, f"{where}.{kind}[{i}][0]", depth + 1)
            if not (key is None or isinstance(key, (str, int, float))):
                raise _fail(name, f"header field {where}.{kind}[{i}][0] is not a valid key")
            out[key] = _decode(pair[1], arrays, memo, name, f"{where}.{kind}[{i}][1]", depth + 1)
        return out
    if kind in ("tensor", "ndarray") and _is_uint(value) and value < len(arrays):
        if value not in memo:
            memo[value] = (_tensor(node, arrays[value], name, where) if kind == "tensor"
                           else arrays[value])
        return memo[value]
    raise _fail(name, f"header field {where} is not a valid node: {str(node)[:80]}")


def _number(kind: str, value: Any, name: str, where: str) -> int | float:
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "float" and value in ("inf", "-inf", "nan"):
        return float(value)
    raise _fail(name, f"header field {where}.{kind} has an invalid value {value!r}")


def _tensor(node: dict, array: np.ndarray, name: str, where: str):
    if array.dtype.name not in TENSOR_DTYPES:
        raise _fail(name, f"header field {where}: a tensor cannot have dtype {array.dtype}")
    requires_grad = node.get("requires_grad") is True and array.dtype == np.float32
    if node.get("parameter") is True:
        from unified.nn.parameter import Parameter

        return Parameter(wrap(array), requires_grad=requires_grad)
    t = wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t
