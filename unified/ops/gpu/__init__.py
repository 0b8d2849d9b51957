"""GPU implementations of every registry op, one file per family mirroring unified/ops/<family>.py
(elementwise, reduce, matmul, conv, index, nn, loss, optim, random, shape, fused, collective).
Each is fn(xp, *arrays, **attrs) written against the array namespace `xp`: CuPy on a GPU
(cuBLAS via xp.matmul, CuPy's reduction kernels and memory pool), NumPy on the test device
(tests/gpu/fake_cuda.py), so the CPU-only test suite runs every GPU implementation against the
C++ kernels. Importing this package attaches each one to its OpDef as `OpDef.gpu`
(_table.attach); unified/devices.py imports it when a device backend is installed, so
`import unified` alone never loads it. run.py is what dispatch.py calls."""

from unified.ops.gpu import (  # noqa: F401  (each module registers its family)
    collective,
    conv,
    elementwise,
    fused,
    index,
    loss,
    matmul,
    nn,
    optim,
    random,
    reduce,
    shape,
)
from unified.ops.gpu._table import IMPLS, GpuKernel, attach
from unified.ops.gpu.run import contiguous_copy, run_gpu

attach()

__all__ = ["IMPLS", "GpuKernel", "attach", "contiguous_copy", "run_gpu"]
