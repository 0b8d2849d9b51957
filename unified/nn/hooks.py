"""Hook plumbing for Module.__call__ (module.py): RemovableHandle (what every register_*_hook
returns), MODULE_TRACKERS (debug tools told about every module call: unified.debug's module
path and summary) and BackwardHook, the two pass-through autograd nodes a full backward hook
puts around one module call. Tensor gradient hooks live in tensor.py / autograd.py.

Inside a traced function, module hooks run while the call is recorded only: a replay runs the
graph, not Python, so hooks (and the trackers) do not fire on later calls."""

from __future__ import annotations

import contextvars
import itertools
from typing import Any

_next_id = itertools.count()

# Trackers told about every Module call: tracker.enter(module) before it (pre-hooks included),
# tracker.exit(module, output) after it (output None when the call raised). An empty tuple
# while no debug tool runs, so Module.__call__ pays one contextvar read.
MODULE_TRACKERS: contextvars.ContextVar[tuple] = contextvars.ContextVar("module_trackers",
                                                                        default=())


class RemovableHandle:
    """Removes one hook from the dicts it was registered in.

    >>> hooks = {}
    >>> handle = RemovableHandle(hooks)
    >>> hooks[handle.id] = print
    >>> handle.remove()
    >>> hooks
    {}
    """

    def __init__(self, *hooks_dicts: dict) -> None:
        self.id = next(_next_id)
        self._hooks_dicts = hooks_dicts

    def remove(self) -> None:
        for hooks in self._hooks_dicts:
            hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _PassThrough:
    """What autograd reads of an OpDef, for a node whose gradient is its output gradients,
    handed to `on_grads` (which may replace them). Not a registered op: it runs no kernel, and
    the tracer (keyed by arrays) sees its outputs as the same values as its inputs."""

    saves_inputs = False
    saves_output = False

    def __init__(self, name: str, num_outputs: int, on_grads) -> None:
        self.name = name
        self.num_outputs = num_outputs
        self.on_grads = on_grads

    def grad(self, g, *inputs, out=None):
        grads = tuple(g) if self.num_outputs > 1 else (g,)
        return self.on_grads(grads)


def _alias_through(tensors: list, name: str, on_grads) -> list:
    """New tensors over the same data whose history is one pass-through node over `tensors`."""
    from unified.autograd import Node
    from unified.tensor import version_counter, wrap

    node = Node(_PassThrough(name, len(tensors), on_grads), tuple(tensors), None, None)
    aliases = []
    for i, t in enumerate(tensors):
        a = wrap(t._data)
        a._vc = version_counter(t)
        a.requires_grad = True
        a._grad_fn = node
        a._out_index = i
        aliases.append(a)
    return aliases


class BackwardHook:
    """One module call's full backward hooks (PyTorch's register_full_backward_hook):
    1. setup_input: tensor positional arguments that require grad are replaced by aliases made
       by one pass-through node (the input node);
    2. setup_output: output tensors that require grad are replaced likewise (the output node),
       whose gradient is grad_output;
    3. when the input node's gradient arrives (all of the module's input grads computed), each
       hook(module, grad_input, grad_output) runs; a non-None result replaces grad_input.
       With no input requiring grad, the hooks run at the output node with grad_input all None.
    Limits: keyword tensor arguments are not hooked (as in PyTorch)."""

    def __init__(self, module: Any, hooks: dict) -> None:
        self.module = module
        self.hooks = list(hooks.values())
        self.n_args = 0
        self.hooked: list[int] = []  # indices among the tensor arguments given to the input node
        self.has_input_node = False
        self.grad_output: tuple = ()

    def setup_input(self, args: tuple) -> tuple:
        from unified.grad_mode import is_grad_enabled
        from unified.tensor import Tensor

        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_args = len(positions)
        wanted = [i for i in positions if args[i].requires_grad]
        if not wanted or not is_grad_enabled():
            return args
        self.has_input_node = True
        self.hooked = [positions.index(i) for i in wanted]
        aliases = _alias_through([args[i] for i in wanted], "BackwardHookFunction",
                                 self._on_input_grads)
        args = list(args)
        for i, a in zip(wanted, aliases):
            args[i] = a
        return tuple(args)

    def setup_output(self, output: Any) -> Any:
        from unified.grad_mode import is_grad_enabled
        from unified.tensor import Tensor

        single = isinstance(output, Tensor)
        items = [output] if single else list(output) if isinstance(output, (tuple, list)) else []
        wanted = [i for i, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
        if not wanted or not is_grad_enabled():
            return output
        aliases = _alias_through([items[i] for i in wanted], "BackwardHookFunction",
                                 self._on_output_grads)
        for i, a in zip(wanted, aliases):
            items[i] = a
        return items[0] if single else type(output)(items)

    def _on_output_grads(self, grads: tuple) -> tuple:
        self.grad_output = grads
        if not self.has_input_node:
            self._run_hooks((None,) * max(self.n_args, 1))
        return grads

    def _on_input_grads(self, grads: tuple) -> tuple:
        grad_input = [None] * self.n_args  # one per tensor argument, None where not hooked
        for k, g in zip(self.hooked, grads):
            grad_input[k] = g
        grad_input = self._run_hooks(tuple(grad_input))
        return tuple([grad_input[k] for k in self.hooked])

    def _run_hooks(self, grad_input: tuple) -> tuple:
        for hook in self.hooks:
            result = hook(self.module, grad_input, self.grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(
                    f"backward hook of {type(self.module).__name__} returned {len(result)} "
                    f"gradients, expected {len(grad_input)} (one per tensor argument)")
            for new, old in zip(result, grad_input):
                if new is not None and old is not None and new.shape != old.shape:
                    raise RuntimeError(
                        f"backward hook of {type(self.module).__name__} returned a gradient of "
                        f"shape {tuple(new.shape)} for an input gradient of shape "
                        f"{tuple(old.shape)}")
            grad_input = result
        return grad_input
