"""Tensor: a NumPy array holding the data (storage, shape, strides, dtype) plus autograd
fields. Every method is a thin call into unified.functional, which goes through the single
dispatcher (dispatch.py). Differences from PyTorch: dtypes are NumPy dtype objects, float64
input becomes float32, and only the "cpu" device exists in eager mode for now.

>>> import unified as U
>>> x = U.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad.tolist()
[[2.0, 4.0], [6.0, 8.0]]
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import numpy as np

from unified.errors import DTypeError, fmt_shape

_F32 = np.dtype(np.float32)
# The tracer's hook (tracer/guards.py): called as hook(tensor, kind) when a tensor's value
# is read into Python (item, tolist, numpy, bool, __array__, repr) while a function is recorded.
VALUE_READS: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "value_reads", default=None)


class Tensor:
    __slots__ = ("_data", "requires_grad", "grad", "_grad_fn", "_out_index", "_vc",
                 "_saved_version", "_post_acc_hooks", "_grad_hooks", "__weakref__")
    # _post_acc_hooks and _grad_hooks are left unset (read with getattr) until a hook is
    # registered, so that wrap() sets nothing more per op
    __array_ufunc__ = None  # `ndarray + Tensor` defers to Tensor.__radd__ (gives a Tensor)

    def __init__(self, data: Any = None, *, dtype=None, requires_grad: bool = False) -> None:
        from unified.creation import as_array

        self._data = as_array(data if data is not None else [], dtype)
        self.grad = None
        self._grad_fn = None
        self._out_index = 0
        self._vc = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ---- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def device(self) -> Any:
        """A unified.device: cpu, or cuda:0 for a tensor holding a CuPy array (unified/devices.py);
        it compares equal to the strings "cpu", "cuda", "cuda:0"."""
        if type(self._data) is np.ndarray:
            return _CPU
        from unified.devices import device_of

        return device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return 0 if self._vc is None else self._vc[0]

    @property
    def grad_fn(self):
        """The autograd Node that made this tensor (None for a leaf): `name()`, `op`, `inputs`,
        `attrs`, `next_functions` to walk the graph, and `metadata` (the creation line and
        module, recorded while unified.debug.detect_anomaly() is on).

        >>> import unified as U
        >>> x = U.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * 2.0).sum()
        >>> y.grad_fn, y.grad_fn.next_functions[0][0]
        (<SumBackward>, <MulBackward>)
        """
        return self._grad_fn

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value, self.dtype)
        version_counter(self)[0] += 1

    def size(self, dim: int | None = None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim: int | None = None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[dim]

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self._data.dtype == _F32

    # ---- autograd -------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self._data.dtype != _F32:
            raise DTypeError(
                f"only float32 tensors can require gradients, got {self._data.dtype} "
                f"(shape {fmt_shape(self.shape)})"
            )
        if not requires_grad and self._grad_fn is not None:
            raise RuntimeError("requires_grad_(False) is only valid on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        t = wrap(self._data)
        t._vc = version_counter(self)
        return t

    def detach_(self) -> "Tensor":
        self._grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        if self._grad_fn is None:
            return
        import weakref

        if self._grad_fn.retained is None:
            self._grad_fn.retained = {}
        self._grad_fn.retained[self._out_index] = weakref.ref(self)

    def register_post_accumulate_grad_hook(self, hook: Callable[["Tensor"], Any]) -> Any:
        """Call `hook(self)` each time backward() has finished accumulating this leaf's
        gradient into `.grad` (PyTorch's hook; autograd.grad() does not call it). Returns a
        handle whose `remove()` unregisters it. DataParallel starts a bucket's all-reduce
        from here.

        >>> import unified as U
        >>> w = U.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = w.register_post_accumulate_grad_hook(lambda t: print(t.grad.tolist()))
        >>> ((w * w).sum() + w.sum()).backward()
        [3.0, 5.0]
        >>> handle.remove()
        """
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks can only be registered on leaf "
                               f"tensors; this one was computed by {self._grad_fn.name()}")
        if not self.requires_grad:
            raise RuntimeError(f"cannot register a post accumulate grad hook on a tensor that "
                               f"does not require grad (shape {fmt_shape(self.shape)})")
        from unified.autograd import count_hooked_leaf
        from unified.nn.hooks import RemovableHandle

        hooks = getattr(self, "_post_acc_hooks", None)
        if hooks is None:
            hooks = self._post_acc_hooks = {}
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        count_hooked_leaf()
        return handle

    def register_hook(self, hook: Callable[["Tensor"], Any]) -> Any:
        """Call `hook(grad)` when backward computes this tensor's gradient; a non-None result
        (same shape) replaces the gradient from then on (what flows further back, or what a
        leaf accumulates into .grad). Hooks run in registration order; on a leaf they run once
        on the summed gradient. Returns a handle whose `remove()` unregisters the hook.

        >>> import unified as U
        >>> x = U.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10.0)
        >>> (x * x).sum().backward()
        >>> x.grad.tolist()
        [20.0, 40.0]
        >>> handle.remove()
        """
        if not self.requires_grad:
            raise RuntimeError(f"cannot register a hook on a tensor that does not require grad "
                               f"(shape {fmt_shape(self.shape)})")
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        from unified.nn.hooks import RemovableHandle

        if self._grad_fn is None:
            from unified.autograd import count_grad_hooked_leaf

            hooks = getattr(self, "_grad_hooks", None)
            if hooks is None:
                hooks = self._grad_hooks = {}
            count_grad_hooked_leaf()
        else:
            node = self._grad_fn
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._out_index, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (PyTorch semantics)."""
        from unified.autograd import _default_grads, run_backward
        from unified.errors import attach_location

        try:
            grads = _default_grads([self], None if gradient is None else [gradient])
            run_backward([self], grads, bool(retain_graph or create_graph), create_graph)
        except (RuntimeError, ValueError, TypeError) as exc:
            attach_location(exc)
            raise

    # ---- data out -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use "
                               "tensor.detach().numpy()")
        if type(self._data) is not np.ndarray and self.device.type != "cpu":
            raise TypeError(f"can't convert a {self.device} tensor to numpy; copy it to the "
                            "host first with .cpu()")
        _read(self, "numpy")
        return self._data

    def __array__(self, dtype=None, copy=None):
        _read(self, "numpy")
        data = self._data if type(self._data) is np.ndarray else _host(self._data)
        return data if dtype is None else data.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"number, got shape {fmt_shape(self.shape)}")
        _read(self, "item")
        return self._data.reshape(()).item()

    def tolist(self):
        _read(self, "tolist")
        return self._data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self._data.size} elements is "
                               "ambiguous; use .any() or .all()")
        _read(self, "bool")
        return bool(self._data.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __repr__(self) -> str:
        _read(self, "print")
        data = self._data if type(self._data) is np.ndarray else _host(self._data)
        body = _format_values(data)
        extra = ""
        if self._data.size == 0 or "..." in body:  # empty or summarized: values hide the shape
            extra += f", size={fmt_shape(self.shape)}"
        if self._data.dtype != _F32:
            extra += f", dtype={self._data.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self._grad_fn is not None:
            extra += f", grad_fn=<{self._grad_fn.name()}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self) -> int:
        return id(self)

    # ---- conversion -----------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """A copy on another device and/or in another dtype (self when nothing changes):
        t.to("cuda"), t.to(U.float32), t.to("cuda", U.int64), t.to(device=..., dtype=...)."""
        from unified.devices import device as device_type
        from unified.dtypes import as_dtype

        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        for a in args:
            if a is None:
                continue
            if isinstance(a, device_type) or isinstance(a, str) and a.split(":")[0] in (
                    "cpu", "cuda"):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            else:
                dtype = a
        t = self
        if device is not None:
            t = _to_device(t, device)
        if dtype is None or as_dtype(dtype) == t.dtype:
            return t
        return _F.cast(t, as_dtype(dtype))

    def cpu(self) -> "Tensor":
        return self if type(self._data) is np.ndarray else self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        return self.to("cuda" if device is None else device)

    def float(self) -> "Tensor":
        return self.to(_F32)

    def long(self) -> "Tensor":
        return self.to(np.int64)

    def int(self) -> "Tensor":
        return self.to(np.int32)

    def bool(self) -> "Tensor":
        return self.to(np.bool_)

    def byte(self) -> "Tensor":
        return self.to(np.uint8)

    def type(self, dtype) -> "Tensor":
        return self.to(dtype)

    # ---- operators ------------------------------------------------------------------------
    def __add__(self, other): return _binary(_ops.add, self, other)
    def __radd__(self, other): return _binary(_ops.add, other, self)
    def __sub__(self, other): return _binary(_ops.sub, self, other)
    def __rsub__(self, other): return _binary(_ops.sub, other, self)
    def __mul__(self, other): return _binary(_ops.mul, self, other)
    def __rmul__(self, other): return _binary(_ops.mul, other, self)
    def __truediv__(self, other): return _F.div(self, other)
    def __rtruediv__(self, other): return _F.div(other, self)
    def __pow__(self, other): return _F.pow(self, other)
    def __rpow__(self, other): return _F.pow(other, self)
    def __matmul__(self, other): return _F.matmul(self, other)
    def __rmatmul__(self, other): return _F.matmul(other, self)
    def __neg__(self): return _F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _F.abs(self)
    def __eq__(self, other): return _F.eq(self, other)  # type: ignore[override]
    def __ne__(self, other): return _F.ne(self, other)  # type: ignore[override]
    def __lt__(self, other): return _F.lt(self, other)
    def __le__(self, other): return _F.le(self, other)
    def __gt__(self, other): return _F.gt(self, other)
    def __ge__(self, other): return _F.ge(self, other)
    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)
    def __getitem__(self, key): return _F.getitem(self, key)
    def __setitem__(self, key, value): _F.setitem(self, key, value)

    # ---- in-place -------------------------------------------------------------------------
    def add_(self, other, alpha: float = 1.0): return _F.add_(self, other, alpha=alpha)
    def sub_(self, other, alpha: float = 1.0): return _F.add_(self, other, alpha=-alpha)
    def mul_(self, other): return _F.mul_(self, other)
    def div_(self, other): return _F.div_(self, other)
    def copy_(self, src): return _F.copy_(self, src)
    def fill_(self, value): return _F.fill_(self, value)
    def zero_(self): return _F.fill_(self, 0)
    def clamp_(self, min=None, max=None): return _F.clamp_(self, min, max)
    def relu_(self): return _F.relu_(self)
    def normal_(self, mean=0.0, std=1.0): return _F.normal_(self, mean, std)
    def uniform_(self, a=0.0, b=1.0): return _F.uniform_(self, a, b)

    # ---- math methods (see unified.functional for docs) -----------------------------------
    def add(self, other, alpha: float = 1.0): return _F.add(self, other, alpha=alpha)
    def sub(self, other, alpha: float = 1.0): return _F.sub(self, other, alpha=alpha)
    def mul(self, other): return _F.mul(self, other)
    def div(self, other): return _F.div(self, other)
    def pow(self, other): return _F.pow(self, other)
    def maximum(self, other): return _F.maximum(self, other)
    def minimum(self, other): return _F.minimum(self, other)
    def eq(self, other): return _F.eq(self, other)
    def ne(self, other): return _F.ne(self, other)
    def lt(self, other): return _F.lt(self, other)
    def le(self, other): return _F.le(self, other)
    def gt(self, other): return _F.gt(self, other)
    def ge(self, other): return _F.ge(self, other)
    def neg(self): return _F.neg(self)
    def abs(self): return _F.abs(self)
    def sign(self): return _F.sign(self)
    def exp(self): return _F.exp(self)
    def log(self): return _F.log(self)
    def sqrt(self): return _F.sqrt(self)
    def rsqrt(self): return _F.rsqrt(self)
    def sin(self): return _F.sin(self)
    def cos(self): return _F.cos(self)
    def tanh(self): return _F.tanh(self)
    def sigmoid(self): return _F.sigmoid(self)
    def relu(self): return _F.relu(self)
    def clamp(self, min=None, max=None): return _F.clamp(self, min, max)
    clip = clamp
    def where(self, condition, other): return _F.where(condition, self, other)
    def masked_fill(self, mask, value): return _F.masked_fill(self, mask, value)
    def clone(self): return _F.clone(self)
    def contiguous(self): return self if self.is_contiguous() else _F.clone(self)

    def sum(self, dim=None, keepdim=False): return _F.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _F.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return _F.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return _F.std(self, dim, unbiased, keepdim, correction=correction)
    def max(self, dim=None, keepdim=False): return _F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _F.min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _F.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _F.argmin(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _F.logsumexp(self, dim, keepdim)
    def all(self): return _F.all(self)
    def any(self): return _F.any(self)
    def softmax(self, dim): return _F.softmax(self, dim)
    def log_softmax(self, dim): return _F.log_softmax(self, dim)

    def matmul(self, other): return _F.matmul(self, other)
    def reshape(self, *shape): return _F.reshape(self, _shape_args(shape))
    def view(self, *shape): return _F.view(self, _shape_args(shape))
    def view_as(self, other): return _F.view(self, other.shape)
    def reshape_as(self, other): return _F.reshape(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return _F.flatten(self, start_dim, end_dim)
    def permute(self, *dims): return _F.permute(self, _shape_args(dims))
    def transpose(self, dim0, dim1): return _F.transpose(self, dim0, dim1)
    def t(self): return _F.t(self)
    @property
    def T(self): return _F.permute(self, tuple(range(self.ndim - 1, -1, -1)))
    @property
    def mT(self): return _F.transpose(self, -2, -1)
    def unsqueeze(self, dim): return _F.unsqueeze(self, dim)
    def squeeze(self, dim=None): return _F.squeeze(self, dim)
    def expand(self, *shape): return _F.expand(self, _shape_args(shape))
    def expand_as(self, other): return _F.expand(self, other.shape)
    def broadcast_to(self, shape): return _F.expand(self, tuple(shape))
    def repeat(self, *sizes): return _F.repeat(self, _shape_args(sizes))
    def split(self, split_size_or_sections, dim=0):
        return _F.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return _F.chunk(self, chunks, dim)
    def index_select(self, dim, index): return _F.index_select(self, dim, index)
    def gather(self, dim, index): return _F.gather(self, dim, index)
    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _F.topk(self, k, dim, largest, sorted)


def _format_values(array: np.ndarray) -> str:
    """The values as PyTorch prints them: floats all integral -> "1.", else 4 decimals, or
    scientific when magnitudes span over 1e3 (or pass 1e8, or go under 1e-4); one width for
    every element (from the shown nonzero finite values); 80 columns; over 1000 elements
    summarized with 3 at each edge."""
    options = {"separator": ", ", "prefix": "tensor(", "max_line_width": 81}
    if array.dtype.kind != "f" or array.size == 0:
        return np.array2string(array, **options)
    shown = _edges(array) if array.size > 1000 else array
    flat = shown.reshape(-1).astype(np.float64)
    finite = flat[np.isfinite(flat)]
    nonzero = finite[finite != 0]
    magnitudes = np.abs(nonzero)
    integral = bool(np.all(finite == np.ceil(finite)))
    big, small = (magnitudes.max(), magnitudes.min()) if magnitudes.size else (0.0, 0.0)
    if magnitudes.size and (big / small > 1000 or big > 1e8 or (not integral and small < 1e-4)):
        spec = "{:.4e}"
    else:
        spec = "{:.0f}." if integral else "{:.4f}"

    def text(value: float) -> str:
        return str(value) if not np.isfinite(value) else spec.format(value)

    ends = (nonzero.min(), nonzero.max()) if nonzero.size else ()
    width = max([1] + [len(text(float(v))) for v in ends])
    body = np.array2string(array, formatter={"float_kind": lambda v: text(float(v)).rjust(width)},
                           **options)
    return body.replace(", ..., ", ",  ..., ")  # PyTorch pads the ellipsis inside a row


def _edges(array: np.ndarray, edge: int = 3) -> np.ndarray:
    """The elements a summarized print shows: the first and last `edge` along each axis."""
    for axis, n in enumerate(array.shape):
        if n > 2 * edge:
            array = np.take(array, list(range(edge)) + list(range(n - edge, n)), axis=axis)
    return array


def _shape_args(args: tuple) -> tuple:
    """Accept both x.reshape(2, 3) and x.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


_new = object.__new__


def _read(t: Tensor, kind: str) -> None:
    """Tell the tracer (when one is recording) that t's value is read into Python."""
    hook = VALUE_READS.get()
    if hook is not None:
        hook(t, kind)


def wrap(array: np.ndarray) -> Tensor:
    """A Tensor over an existing array (no copy, no history). The dispatcher's constructor."""
    t = _new(Tensor)
    t._data = array
    t.requires_grad = False
    t.grad = None
    t._grad_fn = None
    t._out_index = 0
    t._vc = None
    return t


def _host(array: Any) -> np.ndarray:
    from unified.devices import CPU, move

    return move(array, CPU)


def _to_device(t: Tensor, target: Any) -> Tensor:
    """t's values on `target` (t itself when already there). Moving is a copy outside autograd
    (unlike PyTorch): a leaf that requires grad gives a new leaf that requires grad; a computed
    tensor gives a detached copy (`loss.cpu().item()`), so move inputs and parameters before
    computing when gradients must reach them."""
    from unified.devices import as_device, move

    target = as_device(target)
    array = move(t._data, target)
    if array is t._data:
        return t
    out = wrap(array)
    if t.requires_grad and t._grad_fn is None:
        out.requires_grad = True
    return out


def version_counter(t: Tensor) -> list[int]:
    """The in-place version counter of t's memory (a one-item list shared by views), created
    on first use so that plain ops allocate nothing for it."""
    vc = t._vc
    if vc is None:
        vc = t._vc = [0]
    return vc


from unified.devices import CPU as _CPU  # noqa: E402  (imports nothing of the package)

# Late imports: functional and ops import this module.
from unified import functional as _F  # noqa: E402
from unified.functional.math import _binary  # noqa: E402
from unified.ops import elementwise as _ops  # noqa: E402
