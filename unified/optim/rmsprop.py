"""RMSprop: divide the gradient by a running root mean square, with optional momentum and
centering, following torch.optim.RMSprop's update formula. Base class in optimizer.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from unified.creation import tensor, zeros_like
from unified.functional import sqrt
from unified.optim.optimizer import Optimizer, check_hyper, invalid, lerp_, lr_value
from unified.tensor import Tensor


class RMSprop(Optimizer):
    """For each parameter p with gradient g (PyTorch's formula): g = -g if maximize;
    g += weight_decay * p; v = alpha v + (1 - alpha) g^2; centered: a = lerp(a, g, 1 - alpha),
    avg = sqrt(v - a^2) + eps, else avg = sqrt(v) + eps; with momentum: buf = momentum buf +
    g / avg and p -= lr * buf, else p -= lr * g / avg. foreach/capturable are ignored.

    >>> import unified as U
    >>> w = U.tensor([1.0], requires_grad=True)
    >>> opt = U.optim.RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * 2.0).sum().backward()
    >>> opt.step()
    >>> round(w.item(), 4)  # 1 - 0.01 * 2 / sqrt(0.25 * 4)
    0.98
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float | Tensor = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_hyper("learning rate", lr, lr_value(lr) >= 0.0)
        check_hyper("epsilon value", eps, eps >= 0.0)
        check_hyper("momentum value", momentum, momentum >= 0.0)
        check_hyper("weight_decay value", weight_decay, weight_decay >= 0.0)
        check_hyper("alpha value", alpha, alpha >= 0.0)
        if differentiable:
            raise invalid("RMSprop: differentiable=True is not supported (updates run under "
                          "no_grad)", NotImplementedError)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        return self._step_all(closure)

    def _state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = tensor(0.0)
            state["square_avg"] = zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        return state

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        grad = -p.grad if group["maximize"] else p.grad
        state = self._state(p, group)
        state["step"].add_(1.0)
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        alpha = group["alpha"]
        square_avg = state["square_avg"].mul_(alpha).add_(grad * grad * (1.0 - alpha))
        if group["centered"]:
            grad_avg = lerp_(state["grad_avg"], grad, 1.0 - alpha)
            avg = sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = sqrt(square_avg)
        avg = avg + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"].mul_(group["momentum"]).add_(grad / avg)
            p.add_(buf * -group["lr"])
        else:
            p.add_(grad / avg * -group["lr"])
