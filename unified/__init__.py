"""unified: a deep-learning framework with PyTorch's names, one set of C++ kernels for eager,
traced and deployed execution. See README.md; the architecture is in DESIGN.md."""

from unified import _core
from unified import config as _config
from unified import tensor as _tensor  # noqa: F401  (first: the layers above import Tensor)
from unified import ops  # noqa: F401  (registers every op)


from unified import autograd  # noqa: E402
from unified import functional  # noqa: E402
from unified import creation as _creation  # noqa: E402
from unified.errors import located as _located  # noqa: E402

# creation functions report bad arguments at the caller's line, like every public function
arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones, \
    ones_like, tensor, zeros, zeros_like = (_located(getattr(_creation, n)) for n in (
        "arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
        "linspace", "ones", "ones_like", "tensor", "zeros", "zeros_like"))
from unified.dtypes import bool_, float32, int32, int64, long, uint8  # noqa: E402
from unified.errors import (  # noqa: E402
    AnomalyError,
    BundleError,
    CheckpointError,
    DTypeError,
    ExportError,
    ShapeError,
    TraceError,
)
from unified.functional import *  # noqa: E402,F403  (torch-style top-level math: U.exp, U.cat...)
from unified.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from unified.tensor import Tensor  # noqa: E402
from unified.devices import device  # noqa: E402
from unified.memory import (  # noqa: E402
    max_memory_allocated, memory_allocated, memory_stats, reset_peak_memory_stats,
)
from unified.serialization import load, save  # noqa: E402

bool = bool_  # noqa: A001  (PyTorch's name: unified.bool)
float = float32  # noqa: A001
__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Threads used by kernels (default: all cores)."""
    if int(n) < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return _core.get_num_threads()


if _config.NUM_THREADS:
    set_num_threads(_config.NUM_THREADS)
if _config.ALLOCATOR_TUNING:
    _core.tune_allocator()


_SUBPACKAGES = ("nn", "optim", "data", "datasets", "distributed", "debug", "cuda")


def __getattr__(name: str):
    if name == "trace":  # the tracer sits above this package: import it only when asked
        from unified.tracer import trace

        return trace
    if name in _SUBPACKAGES:  # U.nn, U.optim, ... load on first use (import unified stays lean)
        import importlib

        return importlib.import_module(f"unified.{name}")
    raise AttributeError(f"module 'unified' has no attribute '{name}'")
