"""Optimizer: the base class of every optimizer, with torch.optim.Optimizer's behaviour: param
groups filled from defaults, per-parameter `state`, zero_grad, step(closure), add_param_group
and state_dict/load_state_dict in PyTorch's format. Subclasses (sgd.py, adam.py, adamw.py,
rmsprop.py) write their update with in-place Tensor methods under no_grad, so every update
goes through the dispatcher and a traced training step records it."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import numpy as np

from unified.errors import attach_location
from unified.grad_mode import enable_grad, no_grad
from unified.tensor import Tensor, wrap


class _RequiredParameter:
    """Marks a default that every param group must set itself (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def invalid(message: str, error: type = ValueError) -> Exception:
    """A hyper-parameter error located at the user's line."""
    return attach_location(error(message))


def check_hyper(name: str, value: Any, ok: bool) -> None:
    """Raise PyTorch's 'Invalid <name>: <value>' when `ok` is false."""
    if not ok:
        raise invalid(f"Invalid {name}: {value}")


def lr_value(lr: float | Tensor) -> float:
    """A learning rate as a Python float (lr may be a one-element Tensor, as in PyTorch)."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise invalid(f"Tensor lr must be 1-element, got shape {lr.shape}")
        return float(lr.item())
    return float(lr)


def lerp_(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """start += weight * (end - start) in place, with the two formulas of PyTorch's lerp kernel
    (the second, for weight >= 0.5, is exact at weight 1)."""
    if weight < 0.5:
        return start.add_((end - start) * weight)
    return start.copy_(end - (end - start) * (1.0 - weight))


class Optimizer:
    """Base class: holds `param_groups` (dicts with 'params' and the hyper-parameters) and
    `state` (a dict per parameter). Subclasses implement step(), or `_update(p, group)` (one
    parameter's in-place update) with `step` returning `self._step_all(closure)`.

    >>> import unified as U
    >>> w = U.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = U.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [0.0, 0.0]
    >>> opt.state_dict()["param_groups"][0]["params"]
    [0]
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise invalid("params argument given to the optimizer should be an iterable of "
                          "Tensors or dicts, but got Tensor", TypeError)
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if not param_groups:
            raise invalid("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every subclass's step() runs the step hooks (register_step_pre_hook/post_hook)."""
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_runs_step_hooks", False):
            cls.step = _with_step_hooks(step)

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> Any:
        """Call `hook(optimizer, args, kwargs)` before each step() (PyTorch's hook); it may
        return a new (args, kwargs). Returns a handle whose `remove()` unregisters it.
        DataParallel waits for its gradient all-reduce here."""
        return _add_hook(self, "_step_pre_hooks", hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> Any:
        """Call `hook(optimizer, args, kwargs)` after each step(). Returns a removable handle."""
        return _add_hook(self, "_step_post_hooks", hook)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ---- groups -------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own hyper-parameters; the others come from
        `defaults`), e.g. to train layers that were frozen before."""
        if not isinstance(param_group, dict):
            raise invalid(f"param_group must be a dict, but got {type(param_group).__name__}",
                          TypeError)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise invalid("optimizer parameters need to be organized in ordered collections, "
                          "but the ordering of tensors in sets will change between runs; use a "
                          "list instead", TypeError)
        param_group["params"] = _split_names(param_group, list(params))
        for i, param in enumerate(param_group["params"]):
            if not isinstance(param, Tensor):
                raise invalid(f"optimizer can only optimize Tensors, but params[{i}] is "
                              f"{type(param).__name__}", TypeError)
            if not param.is_leaf:
                raise invalid(f"can't optimize a non-leaf Tensor (params[{i}] of shape "
                              f"{tuple(param.shape)} was computed by {param.grad_fn.name()}); "
                              "optimize the leaf it came from, or detach() it")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise invalid(f"parameter group didn't specify a value of required "
                              f"optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in param_group["params"]}) != len(param_group["params"]):
            raise invalid("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in param_group["params"]):
            raise invalid("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients and steps --------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (set_to_none=True) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                with no_grad():
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _update()")

    def _step_all(self, closure: Callable[[], Any] | None) -> Any:
        """Run the closure (with gradients on, as PyTorch does), then `_update` every parameter
        that has a gradient, under no_grad; returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self.refresh_hyper()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, group)
        return loss

    # ---- hyper-parameter tensors (read by the fused update ops) ----------------------------
    def _hyper(self, group: dict[str, Any], build: Callable[..., list[float]],
               *args: Any) -> Tensor:
        """The float32 tensor `build(group, *args)` (a layout from unified/ops/optim.py) that
        the fused update ops read: one tensor per group position and layout, kept for the
        optimizer's life, so a traced step reads it as state. refresh_hyper() rewrites it."""
        hypers = self.__dict__.setdefault("_hypers", {})
        index = next(i for i, g in enumerate(self.param_groups) if g is group)
        entry = hypers.get((index, build, args))
        if entry is None:
            values = build(group, *args)
            entry = hypers[(index, build, args)] = [values, _hyper_tensor(values)]
        return entry[1]

    def refresh_hyper(self) -> None:
        """Copy the current param_groups values into the hyper-parameter tensors (in place, only
        where a value changed). step() calls it, and so do the lr schedulers after changing
        lr or momentum; a traced step (which skips step()'s Python on replay) sees a value
        changed by hand in param_groups only after this is called."""
        hypers = self.__dict__.get("_hypers")
        if not hypers:
            return
        for (index, build, args), entry in hypers.items():
            if index < len(self.param_groups):
                values = build(self.param_groups[index], *args)
                if values != entry[0]:
                    entry[0] = values
                    entry[1]._data[...] = values

    # ---- state_dict -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: per-parameter state}, 'param_groups': [group with 'params' as
        indices]}: PyTorch's layout. Tensors in it are the live state (not copies)."""
        index: dict[int, int] = {}

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict() of an optimizer with the same group sizes; state tensors are
        copied (PyTorch may alias them), so the loaded dict stays unchanged."""
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise invalid(f"loaded state dict has a different number of parameter groups "
                          f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise invalid(f"loaded state dict contains a parameter group that doesn't "
                              f"match the size of optimizer's group: group {i} has "
                              f"{len(saved['params'])} parameters, the optimizer's has "
                              f"{len(group['params'])}")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state: defaultdict[Tensor, Any] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                state[id_map[key]] = _copy_state(value)
            else:
                state[key] = value
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})


def _add_hook(opt: Optimizer, attr: str, hook: Callable[..., Any]) -> Any:
    from unified.nn.hooks import RemovableHandle

    hooks = opt.__dict__.setdefault(attr, {})
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def _with_step_hooks(step: Callable[..., Any]) -> Callable[..., Any]:
    """`step` running the optimizer's pre and post step hooks around it (once, also when a
    subclass's step calls its parent's)."""
    @functools.wraps(step)
    def step_with_hooks(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_in_step"):
            return step(self, *args, **kwargs)
        for hook in list(self.__dict__.get("_step_pre_hooks", {}).values()):
            result = hook(self, args, kwargs)
            if result is not None:
                args, kwargs = result
        self.__dict__["_in_step"] = True
        try:
            out = step(self, *args, **kwargs)
        finally:
            self.__dict__["_in_step"] = False
        for hook in list(self.__dict__.get("_step_post_hooks", {}).values()):
            hook(self, args, kwargs)
        return out

    step_with_hooks._runs_step_hooks = True  # type: ignore[attr-defined]
    return step_with_hooks


def _hyper_tensor(values: list[float]) -> Tensor:
    return wrap(np.array(values, dtype=np.float32))


def _split_names(param_group: dict[str, Any], params: list) -> list:
    """Accept named parameters ((name, tensor) pairs) as PyTorch does: names go to
    'param_names'."""
    names = [p[0] for p in params if isinstance(p, tuple)]
    if not names:
        return params
    if len(names) != len(params):
        raise invalid("all optimizer params should be with/without names. Some param names are "
                      "missing")
    param_group["param_names"] = names
    return [p[1] for p in params]


def _copy_state(value: Any, key: Any = None) -> Any:
    """A copy of one parameter's state; a numeric 'step' (older checkpoints) becomes a tensor."""
    if isinstance(value, Tensor):
        with no_grad():
            return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy_state(v, k) for k, v in value.items()}
    if key == "step" and isinstance(value, (int, float)):
        from unified.creation import tensor

        return tensor(float(value))
    return deepcopy(value)
