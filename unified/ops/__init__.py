"""The op registry (registry.py) and the op families, one file each, matching
core_cpp/kernels/<family>.cpp. Importing this package registers every op."""

from unified.ops import (  # noqa: F401
    collective,
    conv,
    elementwise,
    fused,
    fused_conv,
    fused_linear,
    index,
    loss,
    matmul,
    nn,
    optim,
    random,
    reduce,
    shape,
)
from unified.ops.registry import OPS, OpDef, TensorMeta, Trait, lookup, register  # noqa: F401
