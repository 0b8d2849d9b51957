"""summary(model, *inputs): run the model once and tabulate every module call, in call order:
output shapes, parameter counts, FLOPs of convs and matmuls, and output bytes; totals at the
bottom.

1. A module tracker (nn/hooks.py MODULE_TRACKERS) opens a row when a module is entered (so a
   parent comes before its children) and fills its output shapes and bytes on exit.
2. A dispatcher observer adds each op's FLOPs to every module on the call stack (a row's FLOPs
   include its children's) and each op output's bytes to the activation total.
3. Buffers (BatchNorm's running statistics) are restored afterwards.
4. Totals: parameters from model.parameters() (each shared parameter once), FLOPs of the
   outermost calls, activation bytes of every op output (views excluded).
FLOP convention (multiply-add = 2 FLOPs; bias, activations, norms and pooling not counted):
conv2d = 2*Cout*Hout*Wout*(Cin/groups)*kh*kw*N, conv_transpose2d = 2*Cin*H*W*(Cout/groups)*kh*kw*N,
matmul/linear = 2*M*N*K (times the batch dimensions). Runs eagerly under no_grad; inside a
traced function it raises TraceError."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from unified.dispatch import OBSERVERS
from unified.errors import TraceError
from unified.grad_mode import no_grad
from unified.nn.hooks import MODULE_TRACKERS
from unified.tensor import VALUE_READS, Tensor


def _conv_flops(inputs: tuple, out: np.ndarray) -> int:
    weight = inputs[1]._data.shape  # (Cout, Cin/groups, kh, kw)
    return 2 * int(out.size) * int(np.prod(weight[1:]))


def _conv_transpose_flops(inputs: tuple, out: np.ndarray) -> int:
    weight = inputs[1]._data.shape  # (Cin, Cout/groups, kh, kw)
    return 2 * int(inputs[0]._data.size) * int(np.prod(weight[1:]))


def _matmul_flops(inputs: tuple, out: np.ndarray) -> int:
    return 2 * int(out.size) * int(inputs[0]._data.shape[-1])  # K = a's last dimension


# FLOP rules by op name. TODO(issue 10): an OpDef.flops field would keep this on the op.
FLOP_RULES = {
    "conv2d": _conv_flops, "fused_conv2d": _conv_flops,
    "conv_transpose2d": _conv_transpose_flops,
    "matmul": _matmul_flops, "linear": _matmul_flops, "fused_linear": _matmul_flops,
}


@dataclasses.dataclass
class SummaryRow:
    """One module call: dotted name ('' for the model), class, nesting depth, output shapes,
    parameters (own and its submodules', each once), FLOPs (its ops and its children's) and
    the bytes of its output tensors."""

    name: str
    kind: str
    depth: int
    output_shapes: list = dataclasses.field(default_factory=list)
    params: int = 0
    trainable_params: int = 0
    flops: int = 0
    output_bytes: int = 0


@dataclasses.dataclass
class Summary:
    """What summary() returns: `rows` in call order plus totals; str() is the table."""

    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    param_bytes: int
    total_flops: int
    activation_bytes: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def row(self, name: str) -> SummaryRow:
        """The first call of the module named `name` (dotted, as in named_modules())."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"summary has no module named {name!r}; modules called: "
                       f"{[r.name for r in self.rows]}")

    def __str__(self) -> str:
        return _format(self)


class _Collector:
    """Module tracker and op observer at once (see the steps in the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.rows: list[SummaryRow] = []
        self.stack: list[SummaryRow] = []
        self.activation_bytes = 0

    def enter(self, module: Any) -> None:
        params = list({id(p): p for p in module.parameters()}.values())
        row = SummaryRow(self.names.get(id(module), f"<{type(module).__name__}>"),
                         type(module).__name__, len(self.stack),
                         params=sum(p.numel() for p in params),
                         trainable_params=sum(p.numel() for p in params if p.requires_grad))
        self.rows.append(row)
        self.stack.append(row)

    def exit(self, module: Any, output: Any) -> None:
        row = self.stack.pop()
        for t in _tensors(output):
            row.output_shapes.append(tuple(t.shape))
            row.output_bytes += int(t._data.nbytes)

    observes_inplace = True  # so that in-place ops (no new memory) can be told apart

    def __call__(self, op: Any, inputs: tuple, attrs: Any, result: Any,
                 inplace: bool = False) -> None:
        outputs = result if isinstance(result, tuple) else (result,)
        if getattr(op, "view", None) is None and not inplace:
            self.activation_bytes += sum(int(t._data.nbytes) for t in outputs)
        rule = FLOP_RULES.get(op.name)
        if rule is not None:
            flops = rule(inputs, outputs[0]._data)
            for row in self.stack:
                row.flops += flops


def _tensors(value: Any) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def summary(model: Any, *inputs: Any, **kwargs: Any) -> Summary:
    """Run `model(*inputs, **kwargs)` once (under no_grad, in its current train/eval mode) and
    return a Summary: print it for the table, or read `.rows` and the totals.

    >>> import unified as U
    >>> s = U.debug.summary(U.nn.Linear(4, 3), U.ones(2, 4))
    >>> s.total_params, s.total_flops, s.rows[0].output_shapes
    (15, 48, [(2, 3)])
    """
    if VALUE_READS.get() is not None:
        raise TraceError("summary() runs the model eagerly and cannot run inside a traced "
                         "function; call it outside (on the untraced model)")
    collector = _Collector(model)
    buffers = [(m, k, b, b._data.copy()) for m in model.modules()  # BatchNorm's statistics
               for k, b in m._buffers.items() if b is not None]
    observers = OBSERVERS.set(OBSERVERS.get() + (collector,))
    trackers = MODULE_TRACKERS.set(MODULE_TRACKERS.get() + (collector,))
    try:
        with no_grad():
            model(*inputs, **kwargs)
    finally:
        MODULE_TRACKERS.reset(trackers)
        OBSERVERS.reset(observers)
        for module, key, buffer, saved in buffers:  # leave the model as it was found
            module._buffers[key] = buffer
            buffer._data[...] = saved
    params = list({id(p): p for p in model.parameters()}.values())
    top = [r for r in collector.rows if r.depth == 0]
    return Summary(
        rows=collector.rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        param_bytes=sum(int(p._data.nbytes) for p in params),
        total_flops=sum(r.flops for r in top),
        activation_bytes=collector.activation_bytes,
    )


def _count(n: int) -> str:
    return f"{n:,}"


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _format(s: Summary) -> str:
    columns = ["module", "type", "output shape", "params", "FLOPs", "output bytes"]
    table = [[("  " * r.depth) + (r.name or "(model)"), r.kind,
              ", ".join(str(list(shape)) for shape in r.output_shapes) or "-",
              _count(r.params), _count(r.flops), _bytes(r.output_bytes)] for r in s.rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) if table else len(c)
              for i, c in enumerate(columns)]
    right = {3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(line(columns))
    out = [line(columns), rule] + [line(row) for row in table] + [rule]
    out.append(f"params: {_count(s.total_params)} (trainable {_count(s.trainable_params)}, "
               f"non-trainable {_count(s.non_trainable_params)}), {_bytes(s.param_bytes)}")
    out.append(f"FLOPs: {_count(s.total_flops)} (multiply-add = 2; conv = 2*Cout*Hout*Wout*"
               "(Cin/groups)*kh*kw*N, matmul/linear = 2*M*N*K; other ops not counted)")
    out.append(f"activation bytes: {_bytes(s.activation_bytes)} (every op output of the "
               "forward, views excluded)")
    out.append("params and FLOPs of a row include its submodules'")
    return "\n".join(out)
