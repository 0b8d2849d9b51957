"""apply(op, inputs, attrs): the single choke point between every layer and the kernels.
It infers shapes (OpDef.infer), allocates outputs, runs the C++ kernel through `_core.run`
(or takes a view for VIEW ops), and records the autograd node. Errors get the user's line.
Observers (the tracer, tests) see every call through `observe()`; autograd.py runs backward."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator

import numpy as np

from unified import _core
from unified.autograd import Node
from unified.errors import USER_ERRORS, attach_location
from unified.grad_mode import GRAD_ENABLED
from unified.ops.registry import OpDef, lookup
from unified.tensor import Tensor, version_counter, wrap

_run = _core.run
_run_same = _core.run_same
_F32 = np.dtype(np.float32)
_empty = np.empty
_ndarray = np.ndarray
_USER_ERRORS = USER_ERRORS

# Called as observer(op, inputs, attrs, outputs) after each op; empty tuple when none.
OBSERVERS: contextvars.ContextVar[tuple[Callable[..., Any], ...]] = contextvars.ContextVar(
    "observers", default=()
)


@contextlib.contextmanager
def observe(callback: Callable[..., Any]) -> Iterator[None]:
    """Call `callback(op, inputs, attrs, outputs)` for every op applied inside the block. A
    callback with a true `observes_inplace` attribute is told about in-place ops (apply_inplace;
    `outputs` is then the target) by an extra keyword `inplace=True` (the tracer needs it)."""
    token = OBSERVERS.set(OBSERVERS.get() + (callback,))
    try:
        yield
    finally:
        OBSERVERS.reset(token)


def _run_kernel(op: OpDef, arrays: tuple, attrs: dict | None) -> tuple:
    if arrays and (type(arrays[0]) is not _ndarray or type(arrays[-1]) is not _ndarray or (
            len(arrays) > 2 and _any_device(arrays))):
        outs = _run_device(op, arrays, attrs)  # None: no input is on a device after all
        if outs is not None:
            return outs
    meta = op.infer(*arrays, **attrs) if attrs else op.infer(*arrays)
    if op.view is not None:
        out = op.view(arrays[0], **attrs) if attrs else op.view(arrays[0])
        if out is None:  # the layout needs a copy first
            arrays = (contiguous_array(arrays[0]),) + arrays[1:]
            out = op.view(arrays[0], **attrs) if attrs else op.view(arrays[0])
        return (out,)
    if op.num_outputs == 1:
        outs = (_empty(meta.shape, meta.dtype),)
    else:
        outs = tuple([_empty(m.shape, m.dtype) for m in meta])
    kid = op._kid if op._kid >= 0 else op.kernel_id()
    _run(kid, arrays, outs, op.parsed_attrs(attrs) if attrs else None)
    return outs


def contiguous_array(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy made by the `cast` kernel (the same kernel the graph runs)."""
    if type(array) is not _ndarray:
        out = _run_device(lookup("cast"), (array,), {"dtype": array.dtype.name})
        if out is not None:
            return out[0]
    out = _empty(array.shape, array.dtype)
    _run(lookup("cast").kernel_id(), (array,), (out,), None)  # same-dtype cast = copy
    return out


def apply(op: OpDef, inputs: tuple, attrs: dict | None = None) -> Any:
    """Run `op` on tensors `inputs` with attributes `attrs`; returns a Tensor (or a tuple)."""
    arrays = tuple([t._data for t in inputs])
    if op.same_shape_fast and type(arrays[0]) is _ndarray and type(arrays[-1]) is _ndarray:
        try:
            kid = op._kid
            if kid < 0:
                kid = op.kernel_id()
            out = _run_same(kid, arrays, op.parsed_attrs(attrs) if attrs else None)
        except _USER_ERRORS as exc:
            attach_location(exc)
            raise
        if out is not None:
            return _record(op, inputs, attrs, out)
    try:
        outs = _run_kernel(op, arrays, attrs)
    except _USER_ERRORS as exc:
        attach_location(exc)
        raise
    if op.num_outputs == 1:
        result = _record(op, inputs, attrs, outs[0])
        if op.view is not None:
            result._vc = version_counter(inputs[0])  # views share their base's version counter
        return result
    result = tuple([wrap(a) for a in outs])
    if op.grad is not None and GRAD_ENABLED.get() and _any_requires_grad(inputs):
        node = Node(op, inputs, attrs, result if op.saves_output else None)
        for i, t in enumerate(result):
            if outs[i].dtype == _F32:
                t.requires_grad = True
                t._grad_fn = node
                t._out_index = i
    _notify(op, inputs, attrs, result)
    return result


def _any_device(arrays: tuple) -> bool:
    """Some array is not a plain NumPy array (a device array: unified/devices.py)."""
    for a in arrays:
        if type(a) is not _ndarray:
            return True
    return False


def _run_device(op: OpDef, arrays: tuple, attrs: dict | None, into: tuple = ()) -> Any:
    """The op on the inputs' device (unified/ops/gpu/run.py), or None when every input is a
    host array (e.g. a NumPy subclass); `into` receives in-place results."""
    from unified.devices import backend_of

    if all(backend_of(a) is None for a in arrays + into):
        return None
    from unified.ops.gpu import run_gpu  # loaded once a device backend exists

    return run_gpu(op, arrays, attrs or {}, into)


def _any_requires_grad(inputs: tuple) -> bool:
    for t in inputs:
        if t.requires_grad:
            return True
    return False


def _record(op: OpDef, inputs: tuple, attrs: dict | None, array: np.ndarray) -> Tensor:
    """Wrap one output array; leave an autograd node when the op needs one; tell observers."""
    out = wrap(array)
    for t in inputs:
        if t.requires_grad:
            if op.grad is not None and array.dtype == _F32 and GRAD_ENABLED.get():
                out.requires_grad = True
                out._grad_fn = Node(op, inputs, attrs, (out,) if op.saves_output else None)
            break
    if OBSERVERS.get():
        _notify(op, inputs, attrs, out)
    return out


def _notify(op: OpDef, inputs: tuple, attrs: dict | None, result: Any,
            inplace: bool = False) -> None:
    for callback in OBSERVERS.get():
        if inplace and getattr(callback, "observes_inplace", False):
            callback(op, inputs, attrs, result, inplace=True)
        else:
            callback(op, inputs, attrs, result)


def apply_inplace(op: OpDef, target: Tensor, others: tuple, attrs: dict | None = None,
                  reads_target: bool = True) -> Tensor:
    """Run `op(target, *others)` writing the result into `target`'s memory (x.add_(y)); with
    reads_target=False, `op(*others)` (x.copy_(y)). The result must have target's shape and
    dtype. Autograd: target's history becomes this op; its version counter is bumped so saved
    copies of the old value are detected."""
    inputs = (target,) + others if reads_target else others
    grad_on = GRAD_ENABLED.get()
    needs_grad = grad_on and op.grad is not None and _any_requires_grad(inputs)
    try:
        if grad_on and target.requires_grad:
            _check_inplace_target(op, target, needs_grad)
        arrays = tuple([t._data for t in inputs])
        if not op.same_shape_fast:  # elementwise kernels check shapes against the target
            _check_fits(op, target, arrays, attrs)
        if needs_grad and reads_target:
            # the node sees the old value (a copy when its grad reads it) with the old history
            old = wrap(contiguous_array(target._data) if op.saves_inputs else target._data)
            old.requires_grad = target.requires_grad
            old._grad_fn = target._grad_fn
            old._out_index = target._out_index
        if not (_any_device(arrays + (target._data,)) and _run_device(
                op, arrays, attrs, (target._data,)) is not None):
            kid = op._kid if op._kid >= 0 else op.kernel_id()
            _run(kid, arrays, (target._data,), op.parsed_attrs(attrs) if attrs else None)
    except _USER_ERRORS as exc:
        attach_location(exc)
        raise
    version_counter(target)[0] += 1
    if needs_grad:
        node_inputs = ((old,) + others) if reads_target else others
        target._grad_fn = Node(op, node_inputs, attrs, (target,) if op.saves_output else None)
        target.requires_grad = True
        target._out_index = 0
    if OBSERVERS.get():
        _notify(op, inputs, attrs, target, inplace=True)
    return target


def _check_inplace_target(op: OpDef, target: Tensor, needs_grad: bool) -> None:
    if target._grad_fn is None:
        raise RuntimeError(
            f"{op.name}_: a leaf tensor that requires grad is being modified in place; "
            "wrap the update in `with unified.no_grad():` (as optimizers do)"
        )
    if needs_grad and target._data.base is not None:
        raise RuntimeError(
            f"{op.name}_: in-place change of a view of a tensor that requires grad is not "
            "supported; use the out-of-place op"
        )


def _check_fits(op: OpDef, target: Tensor, arrays: tuple, attrs: dict | None) -> None:
    meta = op.infer(*arrays, **attrs) if attrs else op.infer(*arrays)
    if tuple(meta.shape) != target._data.shape or meta.dtype != target._data.dtype:
        raise ValueError(
            f"{op.name}_: result {tuple(meta.shape)} {meta.dtype} does not fit the in-place "
            f"target {target._data.shape} {target._data.dtype}"
        )


def apply_update(op: OpDef, inputs: tuple, attrs: dict | None = None) -> Any:
    """Run an update op (OpDef.writes_inputs, e.g. an optimizer step) writing its outputs into
    the memory of the inputs it replaces: output k goes into inputs[op.writes_inputs[k]].
    No autograd (the written tensors keep their history; updates run under no_grad); each
    written tensor's version counter is bumped. Returns the written tensors as apply() returns
    outputs (a tuple, or the tensor when there is one); observers get the same, with
    `inplace=True` when they observe in-place ops."""
    written = tuple([inputs[i] for i in op.writes_inputs])
    try:
        if GRAD_ENABLED.get():
            for t in written:
                if t.requires_grad:
                    raise RuntimeError(f"{op.name}: updates a tensor that requires grad in "
                                       "place; wrap the call in `with unified.no_grad():`")
        arrays = tuple([t._data for t in inputs])  # the kernel checks shapes and dtypes
        targets = tuple([t._data for t in written])
        if not (_any_device(arrays) and _run_device(op, arrays, attrs, targets) is not None):
            kid = op._kid if op._kid >= 0 else op.kernel_id()
            _run(kid, arrays, targets, op.parsed_attrs(attrs) if attrs else None)
    except _USER_ERRORS as exc:
        attach_location(exc)
        raise
    for t in written:
        version_counter(t)[0] += 1
    result = written if op.num_outputs > 1 else written[0]  # as apply() returns
    if OBSERVERS.get():
        _notify(op, inputs, attrs, result, inplace=True)
    return result
