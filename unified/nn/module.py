"""nn.Module: the base class of every layer and model, with torch.nn.Module's behaviour:
attribute assignment registers parameters, buffers and submodules; traversal, train/eval,
state_dict/load_state_dict (loading helpers in state_dict.py), forward hooks (hooks.py) and a
tree __repr__. Errors raised inside a module's forward name the user's line (Module.__call__)."""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable, Iterator

from unified.dtypes import as_dtype, float32
from unified.errors import USER_ERRORS, _package_dirs, attach_location, where
from unified.grad_mode import no_grad
from unified.nn import mode_epoch
from unified.nn.hooks import MODULE_TRACKERS, BackwardHook, RemovableHandle
from unified.nn.parameter import Parameter
from unified.nn.state_dict import IncompatibleKeys, format_errors, load_tensor
from unified.tensor import Tensor


class Module:
    """Base class for layers and models: subclass it, build layers in __init__ (after
    `super().__init__()`), compute in forward(), call the module (not forward) to run it.

    >>> import unified as U
    >>> class Net(U.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = U.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    >>> net = Net()
    >>> [name for name, _ in net.named_parameters()]
    ['fc.weight', 'fc.bias']
    >>> net(U.ones(3, 4)).shape
    (3, 2)
    """

    training: bool
    _version: int = 1  # state_dict format version, as in PyTorch

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = mode_epoch.ChildDict()  # bumps the epoch traces key flags on
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_backward_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define "
                                  "forward(self, ...) in the subclass")

    # ---- calling --------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if MODULE_TRACKERS.get():
                return self._call_tracked(args, kwargs)
            if self._forward_hooks or self._forward_pre_hooks or self._backward_hooks:
                return self._call_with_hooks(args, kwargs)
            return self.forward(*args, **kwargs)
        except USER_ERRORS as exc:
            if _raised_inside_unified(exc):  # a user's own exception keeps its message
                attach_location(exc)
            raise

    def _call_tracked(self, args: tuple, kwargs: dict) -> Any:
        """A call while debug tools watch module calls (nn/hooks.py MODULE_TRACKERS)."""
        trackers = MODULE_TRACKERS.get()
        for tracker in trackers:
            tracker.enter(self)
        output = None
        try:
            output = self._call_with_hooks(args, kwargs)
        finally:
            for tracker in reversed(trackers):
                tracker.exit(self, output)
        return output

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """Forward pre-hooks, forward, forward hooks, with the full backward hooks' pass-through
        nodes around inputs and outputs (PyTorch's order); hooks.py has the backward side."""
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hook = BackwardHook(self, self._backward_hooks) if self._backward_hooks else None
        if backward_hook is not None:
            args = backward_hook.setup_input(args)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_hook is not None:
            output = backward_hook.setup_output(output)
        return output

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args)` before forward; a non-None result replaces args."""
        return _add_hook(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs, hook,
                         prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args, output)` after forward; a non-None result replaces output.

        >>> import unified as U
        >>> seen = []
        >>> layer = U.nn.ReLU()
        >>> handle = layer.register_forward_hook(lambda m, args, out: seen.append(out.shape))
        >>> _ = layer(U.ones(2, 3)); handle.remove(); _ = layer(U.ones(1))
        >>> seen
        [(2, 3)]
        """
        return _add_hook(self._forward_hooks, self._forward_hooks_with_kwargs, hook, prepend,
                         with_kwargs)

    def register_full_backward_hook(self, hook: Callable, *,
                                    prepend: bool = False) -> RemovableHandle:
        """Call `hook(module, grad_input, grad_output)` once the gradients of this module's
        inputs are computed (PyTorch semantics): grad_input has one entry per positional tensor
        argument (None where it needs no grad), grad_output one per output tensor. A non-None
        result replaces grad_input. Inside a traced function it runs while recording only.

        >>> import unified as U
        >>> layer = U.nn.Linear(2, 1)
        >>> handle = layer.register_full_backward_hook(
        ...     lambda m, gin, gout: print(gin[0].shape, gout[0].shape))
        >>> layer(U.ones(3, 2, requires_grad=True)).sum().backward()
        (3, 2) (3, 1)
        >>> handle.remove()
        """
        return _add_hook(self._backward_hooks, set(), hook, prepend, False)

    # ---- registration ---------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(d, name, (d["_buffers"], d["_modules"]))
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(d, name, (params, d["_buffers"]))
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (nn.Module or None expected)")
            d["_modules"][name] = value
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            if name == "training":
                mode_epoch.bump()
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            entries = d.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if name in d.get(table, ()):
                del d[table][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        _check_name(self, name, "parameter", "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                            "(nn.Parameter or None expected)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not a parameter (BatchNorm's running_mean); it is in
        state_dict() unless persistent=False."""
        _check_name(self, name, "buffer", "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' as buffer '{name}' "
                            "(Tensor or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        module = self
        for item in target.split(".") if target else ():
            if item not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule '{item}' "
                                     f"(looking up '{target}')")
            module = module._modules[item]
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter '{name}'")
        return module._parameters[name]

    # ---- traversal ------------------------------------------------------------------------
    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        memo: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in memo):
                    continue
                memo.add(id(value))
                yield (module_prefix + "." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; a parameter shared by two modules comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for self ('') and every submodule, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, (prefix + "." if prefix else "") + name,
                                                remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    # ---- modes and bulk changes -----------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for module in self.modules():
            module.__dict__["training"] = mode
        mode_epoch.bump()
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call fn on every submodule (children first) and then on self (e.g. custom init)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                grad = param.grad.detach() if param.grad.grad_fn is not None else param.grad
                with no_grad():
                    grad.zero_()
                param.grad = grad

    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """Move parameters and buffers (and their grads) to a device in place, keeping each
        Parameter object (so an optimizer made before or after sees the same tensors), or
        convert floating-point ones to a dtype: float32 is the only floating dtype (float64 is
        kept as float32, as tensors do). Devices: unified/devices.py ("cuda" needs CuPy)."""
        from unified.devices import as_device, device as device_type, move

        moved = [a for a in args if isinstance(a, device_type)]
        device, dtype = _parse_to(tuple(a for a in args if not isinstance(a, device_type)),
                                  kwargs)
        device = moved[0] if moved else device
        if device is not None:
            target = as_device(device)
            for t in list(self.parameters()) + list(self.buffers()):
                t._data = move(t._data, target)
                if t.grad is not None:
                    t.grad._data = move(t.grad._data, target)
        if dtype is not None:
            target = as_dtype(dtype)
            if target != float32:
                raise TypeError(f"{type(self).__name__}.to only accepts floating point dtypes, "
                                f"got {target}")
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device: Any = None) -> "Module":
        return self.to("cuda" if device is None else device)

    def float(self) -> "Module":
        return self

    def double(self) -> "Module":
        """Unlike PyTorch this keeps float32: there is no float64 compute type."""
        return self

    # ---- state_dict -----------------------------------------------------------------------
    def state_dict(self, *args: Any, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name (detached unless keep_vars)."""
        if args:  # PyTorch's deprecated positional form (destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars]
                                              [len(args):])[:3]
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, missing: list[str],
                              errors: list[str]) -> None:
        """Copy this module's own entries; subclasses may override to accept older layouts."""
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        for name, target in list(self._parameters.items()) + list(persistent.items()):
            if target is None:
                continue
            key = prefix + name
            if key in state_dict:
                load_tensor(key, target, state_dict[key], errors)
            else:
                missing.append(key)

    def load_state_dict(self, state_dict: dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy tensors from `state_dict` into this module's parameters and buffers, in place.
        strict=True raises one RuntimeError naming every missing key, unexpected key and size
        mismatch; size mismatches always raise. Returns (missing_keys, unexpected_keys)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict expects a dict, got {type(state_dict).__name__}")
        missing: list[str] = []
        errors: list[str] = []
        expected: set[str] = set()
        for prefix, module in self.named_modules(remove_duplicate=False):
            prefix = prefix + "." if prefix else ""
            module._load_from_state_dict(state_dict, prefix, missing, errors)
            expected.update(prefix + k for k, v in module._parameters.items() if v is not None)
            expected.update(prefix + k for k, v in module._buffers.items()
                            if v is not None and k not in module._non_persistent_buffers_set)
        missing = list(dict.fromkeys(missing))
        unexpected = [k for k in state_dict.keys() if k not in expected]
        if errors or (strict and (missing or unexpected)):
            raise _located_error(format_errors(type(self).__name__, missing if strict else [],
                                               unexpected if strict else [], errors))
        return IncompatibleKeys(missing, unexpected)

    # ---- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses (e.g. Linear's sizes)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(module).replace("\n", "\n  ")
                       for name, module in self._modules.items()]
        if len(extra_lines) == 1 and not child_lines:
            return f"{self._get_name()}({extra_lines[0]})"
        if not extra_lines and not child_lines:
            return f"{self._get_name()}()"
        return self._get_name() + "(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"


def _add_hook(hooks: OrderedDict, with_kwargs_set: set, hook: Callable, prepend: bool,
              with_kwargs: bool) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    if with_kwargs:
        with_kwargs_set.add(handle.id)
    return handle


def _check_name(module: Module, name: Any, kind: str, table: str) -> None:
    if "_parameters" not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{kind} name can't contain '.' or be empty, got {name!r}")
    if name in module.__dict__ or (name not in getattr(module, table) and hasattr(module, name)):
        raise KeyError(f"attribute '{name}' already exists")


def _remove_from(d: dict, name: str, tables: tuple) -> None:
    d.pop(name, None)
    for table in tables:
        table.pop(name, None)
    d["_non_persistent_buffers_set"].discard(name)


def _parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, str) and not arg.startswith(("float", "int", "bool", "uint")):
            device = arg
        else:
            dtype = arg
    return device, dtype


def _located_error(message: str) -> RuntimeError:
    """A RuntimeError whose first line ends with the user's file:line (multi-line messages)."""
    location = where()
    first, sep, rest = message.partition("\n")
    if location:
        head, colon = (first[:-1], ":") if first.endswith(":") else (first, "")
        message = f"{head} at {location}{colon}{sep}{rest}"
    exc = RuntimeError(message)
    exc._unified_located = True  # type: ignore[attr-defined]
    return exc


def _raised_inside_unified(exc: BaseException) -> bool:
    """True when the innermost frame of exc's traceback is in the unified package."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_package_dirs())
