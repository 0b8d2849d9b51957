"""SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay
and maximize, following torch.optim.SGD's update formula step for step. The base class is in
optimizer.py; adaptive methods are in adam.py, adamw.py and rmsprop.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from unified.creation import zeros_like
from unified.dispatch import apply_update
from unified.ops.optim import sgd_hyper, sgd_plain_update, sgd_update
from unified.optim.optimizer import Optimizer, check_hyper, invalid, lr_value
from unified.tensor import Tensor


class SGD(Optimizer):
    """For each parameter p with gradient g (PyTorch's formula):
    g = -g if maximize; g += weight_decay * p; with momentum: buf = g on the first step, else
    buf = momentum * buf + (1 - dampening) * g, and g = g + momentum * buf (nesterov) or buf;
    then p -= lr * g. Each parameter's update is one `sgd_update` op (unified/ops/optim.py)
    reading the hyper-parameters from a small tensor, so a traced step follows lr changes.
    `lr` may be a one-element Tensor (then the update runs as composed elementwise ops that
    read it). foreach/fused are accepted and ignored.

    >>> import unified as U
    >>> w = U.tensor([1.0], requires_grad=True)
    >>> opt = U.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * 2.0).sum().backward()
    ...     opt.step()
    >>> round(w.item(), 4)  # 1 - 0.1 * 2 - 0.1 * (0.9 * 2 + 2)
    0.42
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float | Tensor = 1e-3,
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_hyper("learning rate", lr, lr_value(lr) >= 0.0)
        check_hyper("momentum value", momentum, momentum >= 0.0)
        check_hyper("weight_decay value", weight_decay, weight_decay >= 0.0)
        if differentiable:
            raise invalid("SGD: differentiable=True is not supported (updates run under "
                          "no_grad)", NotImplementedError)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise invalid(f"Nesterov momentum requires a momentum and zero dampening, got "
                          f"momentum={momentum}, dampening={dampening}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        return self._step_all(closure)

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        if isinstance(group["lr"], Tensor):  # a tensor lr: the composed ops read it directly
            return self._update_composed(p, group)
        if group["momentum"] == 0:
            apply_update(sgd_plain_update, (p, p.grad, self._hyper(group, sgd_hyper, False)))
            return
        state = self.state[p]
        buf = state.get("momentum_buffer")
        first = buf is None  # PyTorch starts the buffer at the gradient: a flag in hyper
        if first:
            buf = state["momentum_buffer"] = zeros_like(p)
        apply_update(sgd_update, (p, p.grad, buf, self._hyper(group, sgd_hyper, first)))

    def _update_composed(self, p: Tensor, group: dict[str, Any]) -> None:
        """The same update as registered elementwise ops, for a Tensor lr."""
        # alpha= keeps each line one fused kernel (a + alpha * b) instead of a mul and an add
        grad = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.detach().clone()
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad * -group["lr"])
