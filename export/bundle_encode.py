"""FlatBuffer encoding of a .ufb bundle (export/FORMAT.md, schema export/bundle.fbs): the data
section layout and the `Encoder` that writes one Bundle table with every scalar present (so
each field has a fixed place). export/bundle.py decides what goes in and writes the file."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import flatbuffers
import numpy as np

from unified.errors import ExportError
from unified.export._fbs import bundle_generated as fbs
from unified.export.bundle_dynamic import BatchPlan
from unified.export.freeze import InferenceGraph
from unified.tracer.lower import LoweredPlan

MAGIC = b"UFB1"
FORMAT_VERSION = 1  # a bundle with a fixed batch: byte for byte what format 1 writers wrote
FORMAT_VERSION_DYNAMIC = 2  # Plan.batch and the *_slope / buffer fields (export/FORMAT.md)
PREAMBLE_BYTES = 64
ALIGN = 64
DTYPES = {"float32": fbs.DType.Float32, "int32": fbs.DType.Int32, "int64": fbs.DType.Int64,
          "bool": fbs.DType.Bool, "uint8": fbs.DType.UInt8}


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class DataSection:
    """Step 3: tensors laid out at 64-byte aligned offsets; chunks() yields the bytes."""

    def __init__(self) -> None:
        self.arrays: list[tuple[int, np.ndarray]] = []
        self.nbytes = 0

    def add(self, array: np.ndarray) -> tuple[np.ndarray, int]:
        array = np.ascontiguousarray(array)
        offset = align(self.nbytes)
        self.arrays.append((offset, array))
        self.nbytes = offset + array.nbytes
        return array, offset

    def chunks(self, end: int | None = None):
        end = self.nbytes if end is None else end
        position = 0
        for offset, array in self.arrays:
            if offset >= end:
                break
            yield b"\0" * (offset - position)
            yield memoryview(array).cast("B")
            position = offset + array.nbytes
        yield b"\0" * (end - position)

    def crc32(self, end: int | None = None) -> int:
        crc = 0
        for chunk in self.chunks(end):
            crc = zlib.crc32(chunk, crc)
        return crc


def _attr_fields(name: str, value: Any) -> tuple[int, Any]:
    """(AttrKind, value) as _core parses a Python attr (module.cpp attr_from_python)."""
    if isinstance(value, (bool, int)):
        return fbs.AttrKind.Int, int(value)
    if isinstance(value, float):
        return fbs.AttrKind.Float, value
    if isinstance(value, str):
        return fbs.AttrKind.String, value
    if isinstance(value, (tuple, list)):
        if all(isinstance(v, (bool, int)) for v in value):
            return fbs.AttrKind.Ints, [int(v) for v in value]
        return fbs.AttrKind.Floats, [float(v) for v in value]
    if value is None:
        return fbs.AttrKind.Ints, []
    raise ExportError(f"save_bundle: attribute {name!r} has unsupported type "
                      f"{type(value).__name__}")


class Encoder:
    """Step 3: the FlatBuffer of one bundle (every scalar written, even at its default).
    With a BatchPlan (format 2) the slope fields, operand buffers and Plan.batch are written
    too; without one, none of them (the format 1 layout)."""

    def __init__(self, ig: InferenceGraph, lowered: LoweredPlan, dynamic: dict[str, dict[int, str]],
                 consts: list[tuple[np.ndarray, int]], structure: str,
                 batch: BatchPlan | None = None) -> None:
        self.ig, self.lowered, self.dynamic = ig, lowered, dynamic
        self.consts, self.structure, self.batch = consts, structure, batch

    def finish(self, section: tuple[int, int, int], meta: tuple | None,
               refs: list) -> bytearray:
        self.b = b = flatbuffers.Builder(4096)
        b.ForceDefaults(True)
        plan = self._plan()
        refs_vec = self._tables(fbs.BundleStartReferencesVector, [
            self._reference(ins, outs) for ins, outs in refs]) if refs else None
        meta_table = self._metadata(*meta) if meta else None
        structure = b.CreateString(self.structure)
        fbs.DataSectionStart(b)
        fbs.DataSectionAddOffset(b, section[0])
        fbs.DataSectionAddNbytes(b, section[1])
        fbs.DataSectionAddCrc32(b, section[2])
        data = fbs.DataSectionEnd(b)
        fbs.BundleStart(b)
        fbs.BundleAddPlan(b, plan)
        fbs.BundleAddData(b, data)
        if meta_table is not None:
            fbs.BundleAddMetadata(b, meta_table)
        if refs_vec is not None:
            fbs.BundleAddReferences(b, refs_vec)
        fbs.BundleAddOutStructure(b, structure)
        b.Finish(fbs.BundleEnd(b), file_identifier=MAGIC)
        return b.Output()

    def _tables(self, start: Callable, offsets: list[int]) -> int:
        start(self.b, len(offsets))
        for off in reversed(offsets):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def _strings(self, start: Callable, values: Sequence[str]) -> int:
        return self._tables(start, [self.b.CreateString(v) for v in values])

    def _ints(self, values: Sequence[int], dtype: Any = np.int64) -> int:
        return self.b.CreateNumpyVector(np.asarray(list(values), dtype=dtype))

    def _plan(self) -> int:
        b, lowered, ig = self.b, self.lowered, self.ig
        kernels = self._strings(fbs.PlanStartKernelsVector, lowered.kernels)
        steps = self._tables(fbs.PlanStartStepsVector, [
            self._step(s, f"steps[{k}]") for k, s in enumerate(lowered.steps)])
        consts = self._tables(fbs.PlanStartConstsVector, [
            self._data_tensor(name, array, offset) for name, (array, offset)
            in zip(lowered.const_names, self.consts)])
        inputs = self._tables(fbs.PlanStartInputsVector, [
            self._spec(n, s, f"inputs[{k}]")
            for k, (n, s) in enumerate(zip(ig.input_names, lowered.inputs))])
        outputs = self._tables(fbs.PlanStartOutputsVector, [
            self._spec(n, s, f"outputs[{k}]")
            for k, (n, s) in enumerate(zip(ig.output_names, lowered.outputs))])
        batch = self._batch() if self.batch is not None else None
        fbs.PlanStart(b)
        fbs.PlanAddArenaBytes(b, lowered.arena_bytes)
        fbs.PlanAddInputs(b, inputs)
        fbs.PlanAddOutputs(b, outputs)
        fbs.PlanAddConsts(b, consts)
        fbs.PlanAddSteps(b, steps)
        fbs.PlanAddKernels(b, kernels)
        if batch is not None:
            fbs.PlanAddBatch(b, batch)
        return fbs.PlanEnd(b)

    def _slopes(self, path: str, n: int) -> int | None:
        """The vector of slopes of path[0..n) (format 2 only)."""
        if self.batch is None:
            return None
        return self._ints([self.batch.slope(f"{path}[{d}]") for d in range(n)])

    def _batch(self) -> int:
        b, batch = self.b, self.batch
        tables = []
        for offset, nbytes, slope, first, last in batch.buffers:
            fbs.ArenaBufferStart(b)
            fbs.ArenaBufferAddOffset(b, offset)
            fbs.ArenaBufferAddNbytes(b, nbytes)
            fbs.ArenaBufferAddNbytesSlope(b, slope)
            fbs.ArenaBufferAddFirst(b, first)
            fbs.ArenaBufferAddLast(b, last)
            tables.append(fbs.ArenaBufferEnd(b))
        buffers = self._tables(fbs.BatchInfoStartBuffersVector, tables)
        fbs.BatchInfoStart(b)
        fbs.BatchInfoAddSaved(b, batch.saved)
        fbs.BatchInfoAddMax(b, batch.max)
        fbs.BatchInfoAddBuffers(b, buffers)
        return fbs.BatchInfoEnd(b)

    def _spec(self, name: str, spec: tuple[tuple[int, ...], str], path: str) -> int:
        b = self.b
        axes = self.dynamic.get(name, {})
        name_off = b.CreateString(name)
        shape = self._ints(spec[0])
        dyn_axes = self._ints(list(axes), np.int32)
        dyn_names = self._strings(fbs.TensorSpecStartDynamicNamesVector, list(axes.values()))
        slopes = self._slopes(f"{path}.shape", len(spec[0]))
        fbs.TensorSpecStart(b)
        fbs.TensorSpecAddName(b, name_off)
        fbs.TensorSpecAddDtype(b, DTYPES[spec[1]])
        fbs.TensorSpecAddShape(b, shape)
        fbs.TensorSpecAddDynamicAxes(b, dyn_axes)
        fbs.TensorSpecAddDynamicNames(b, dyn_names)
        if slopes is not None:
            fbs.TensorSpecAddShapeSlope(b, slopes)
        return fbs.TensorSpecEnd(b)

    def _data_tensor(self, name: str, array: np.ndarray, offset: int) -> int:
        b = self.b
        name_off = b.CreateString(name)
        shape = self._ints(array.shape)
        fbs.DataTensorStart(b)
        fbs.DataTensorAddName(b, name_off)
        fbs.DataTensorAddDtype(b, DTYPES[array.dtype.name])
        fbs.DataTensorAddShape(b, shape)
        fbs.DataTensorAddOffset(b, offset)
        fbs.DataTensorAddNbytes(b, array.nbytes)
        return fbs.DataTensorEnd(b)

    def _operand(self, op: tuple, path: str) -> int:
        b = self.b
        shape, strides = self._ints(op[4]), self._ints(op[5])
        shape_slope = self._slopes(f"{path}.shape", len(op[4]))
        strides_slope = self._slopes(f"{path}.strides", len(op[5]))
        fbs.OperandStart(b)
        fbs.OperandAddStorage(b, op[0])
        fbs.OperandAddSlot(b, op[1])
        fbs.OperandAddByteOffset(b, op[2])
        fbs.OperandAddDtype(b, DTYPES[op[3]])
        fbs.OperandAddShape(b, shape)
        fbs.OperandAddStrides(b, strides)
        if self.batch is not None:
            fbs.OperandAddBuffer(b, self.batch.operand_buffers.get(path, -1))
            fbs.OperandAddOffsetSlope(b, self.batch.slope(f"{path}.byte_offset"))
            fbs.OperandAddShapeSlope(b, shape_slope)
            fbs.OperandAddStridesSlope(b, strides_slope)
        return fbs.OperandEnd(b)

    def _attr(self, name: str, value: Any, path: str) -> int:
        b = self.b
        kind, v = _attr_fields(name, value)
        name_off = b.CreateString(name)
        vec = ints_slope = None
        if kind == fbs.AttrKind.Ints:
            vec = self._ints(v)
            ints_slope = self._slopes(path, len(v))
        elif kind == fbs.AttrKind.Floats:
            vec = b.CreateNumpyVector(np.asarray(v, dtype=np.float64))
        elif kind == fbs.AttrKind.String:
            vec = b.CreateString(v)
        fbs.AttrStart(b)
        fbs.AttrAddName(b, name_off)
        fbs.AttrAddKind(b, kind)
        if kind == fbs.AttrKind.Int:
            fbs.AttrAddI(b, v)
        elif kind == fbs.AttrKind.Float:
            fbs.AttrAddF(b, v)
        elif kind == fbs.AttrKind.Ints:
            fbs.AttrAddInts(b, vec)
        elif kind == fbs.AttrKind.Floats:
            fbs.AttrAddFloats(b, vec)
        else:
            fbs.AttrAddS(b, vec)
        if self.batch is not None:
            fbs.AttrAddISlope(b, self.batch.slope(path) if kind == fbs.AttrKind.Int else 0)
            if ints_slope is not None:
                fbs.AttrAddIntsSlope(b, ints_slope)
        return fbs.AttrEnd(b)

    def _step(self, step: Any, path: str) -> int:
        b = self.b
        attrs = self._tables(fbs.StepStartAttrsVector, [
            self._attr(k, v, f"{path}.attrs.{k}") for k, v in (step.attrs or {}).items()])
        outputs = self._tables(fbs.StepStartOutputsVector, [
            self._operand(o, f"{path}.outputs[{k}]") for k, o in enumerate(step.outputs)])
        inputs = self._tables(fbs.StepStartInputsVector, [
            self._operand(o, f"{path}.inputs[{k}]") for k, o in enumerate(step.inputs)])
        kernel, op, label = (b.CreateString(s) for s in (step.kernel, step.op.name, step.label))
        fbs.StepStart(b)
        fbs.StepAddKernel(b, kernel)
        fbs.StepAddOp(b, op)
        fbs.StepAddLabel(b, label)
        fbs.StepAddInputs(b, inputs)
        fbs.StepAddOutputs(b, outputs)
        fbs.StepAddAttrs(b, attrs)
        return fbs.StepEnd(b)

    def _reference(self, ins: list, outs: list) -> int:
        b = self.b
        tensors = []
        for side, names in ((ins, self.ig.input_names), (outs, self.ig.output_names)):
            tensors.append(self._tables(fbs.ReferenceStartInputsVector, [
                self._data_tensor(n, a, off) for n, (a, off) in zip(names, side)]))
        fbs.ReferenceStart(b)
        fbs.ReferenceAddInputs(b, tensors[0])
        fbs.ReferenceAddOutputs(b, tensors[1])
        return fbs.ReferenceEnd(b)

    def _metadata(self, fixed: dict[str, str], user: list[tuple[str, str]]) -> int:
        b = self.b
        pairs = []
        for key, value in user:
            k, v = b.CreateString(key), b.CreateString(value)
            fbs.KeyValueStart(b)
            fbs.KeyValueAddKey(b, k)
            fbs.KeyValueAddValue(b, v)
            pairs.append(fbs.KeyValueEnd(b))
        user_vec = self._tables(fbs.MetadataStartUserVector, pairs)
        strings = {k: b.CreateString(v) for k, v in fixed.items()}
        fbs.MetadataStart(b)
        fbs.MetadataAddFrameworkVersion(b, strings["framework_version"])
        fbs.MetadataAddCreatedUtc(b, strings["created_utc"])
        fbs.MetadataAddContentHash(b, strings["content_hash"])
        fbs.MetadataAddName(b, strings["name"])
        fbs.MetadataAddUser(b, user_vec)
        return fbs.MetadataEnd(b)
