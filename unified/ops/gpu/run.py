"""Running one op on the GPU: what dispatch.py calls when an input is a device array.
  1. Devices: every input is on the one device, except 0-d CPU tensors (scalars, as in
     PyTorch) and their stride-0 broadcasts (fill_), the op's host_inputs (GpuKernel) and
     the shared zero bias of creation.zero_bias; anything else is a DeviceError naming the
     op, both devices and the input. When no input is on a device (an ndarray subclass such
     as a memmap) the caller takes the CPU path.
  2. Shape inference (OpDef.infer) runs first, so errors read as on the CPU.
  3. The op's GpuKernel runs with complete attrs (the OpDef's defaults filled in); its results
     become device arrays of the inferred dtype (Backend.adopt).
  4. In-place and update ops pass `into`: each output is written into its target's memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unified.devices import DeviceError, backend_of

_ND = np.ndarray


def _scalar_or_host(op, k: int, array: Any, n: int) -> bool:
    from unified.creation import is_zero_bias

    if array.ndim == 0 or not any(array.strides) or is_zero_bias(array):
        return True  # a scalar, a scalar broadcast by expand (stride 0), the shared zero bias
    kernel = op.gpu
    return kernel is not None and (k in kernel.host_inputs or k - n in kernel.host_inputs)


def find_backend(op, arrays: tuple, into: tuple = ()):
    """Step 1: the device backend of the inputs (None when all are host arrays)."""
    backend, first = None, -1
    everything = arrays + into
    for k, a in enumerate(everything):
        b = backend_of(a)
        if b is not None:
            backend, first = b, k
            break
    if backend is None:
        return None
    n = len(arrays)
    for k, a in enumerate(everything):
        b = backend_of(a)
        if b is backend:
            continue
        if b is None and k < n and _scalar_or_host(op, k, a, n):
            continue
        if b is None and k >= n and a.ndim == 0:  # a 0-d host target (Adam's step count)
            continue
        names = op.inputs
        role = (f"input {k} ({names[k]})" if k < n and k < len(names) and
                not names[k].startswith("*") else f"input {k}") if k < n else "the target"
        raise DeviceError(
            f"{op.name}: {role} is on {'cpu' if b is None else 'another device'} "
            f"(shape {tuple(a.shape)}) but input {first} is on cuda:0; move tensors "
            "explicitly with .to('cuda') or .cpu() (0-d CPU tensors mix with any device)")
    return backend


def run_gpu(op, arrays: tuple, attrs: dict | None, into: tuple = ()) -> tuple | None:
    """Outputs of `op` on the device (steps 1-3), or None when no input is on a device.
    With `into`, the outputs are written into those arrays (step 4) and returned."""
    backend = find_backend(op, arrays, into)
    if backend is None:
        return None
    kernel = op.gpu
    if kernel is None:
        raise DeviceError(f"{op.name}: has no GPU implementation (unified/ops/gpu/); move its "
                          "inputs to the CPU with .cpu()")
    xp = backend.xp
    n = len(arrays)
    host = kernel.host_inputs
    prepared = []
    for k, a in enumerate(arrays):
        if backend_of(a) is None and not (k in host or k - n in host):
            a = backend.from_host(np.asarray(a))  # a 0-d scalar or the zero bias
        prepared.append(a)
    prepared = tuple(prepared)
    meta = op.infer(*prepared, **attrs) if attrs else op.infer(*prepared)
    full = {**op.attrs, **attrs} if attrs else op.attrs
    result = kernel(xp, prepared, full)
    metas = meta if op.num_outputs > 1 else (meta,)
    results = result if op.num_outputs > 1 else (result,)
    outs = []
    for m, r in zip(metas, results):
        r = backend.adopt(r)
        if r.dtype != m.dtype:
            r = r.astype(m.dtype)
        if tuple(r.shape) != tuple(m.shape):
            raise RuntimeError(f"{op.name}: the GPU implementation returned shape "
                               f"{tuple(r.shape)}, shape inference says {tuple(m.shape)}")
        outs.append(r)
    for target, out in zip(into, outs):
        if backend_of(target) is None:
            target[...] = backend.to_host(out)
        else:
            target[...] = out
    return tuple(outs)


def contiguous_copy(array: Any) -> Any | None:
    """A C-contiguous copy of a device array (None for host arrays)."""
    backend = backend_of(array)
    if backend is None:
        return None
    return backend.adopt(backend.xp.array(array, copy=True, order="C"))
