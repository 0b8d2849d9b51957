"""Adam: adaptive moment estimation with bias correction and optional AMSGrad, following
torch.optim.Adam's update formula. The step count is a 0-d tensor in the state and the bias
corrections are computed from it in the kernel (PyTorch's capturable path), so a traced training
step stays valid from one step to the next. AdamW (decoupled weight decay) is in adamw.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from unified.creation import tensor, zeros_like
from unified.dispatch import apply_update
from unified.functional import maximum, pow, sqrt
from unified.ops.optim import adam_hyper, adam_update
from unified.optim.optimizer import Optimizer, check_hyper, invalid, lerp_, lr_value
from unified.tensor import Tensor


def check_adam_hyper(name: str, lr, betas, eps, weight_decay, differentiable: bool) -> None:
    check_hyper("learning rate", lr, lr_value(lr) >= 0.0)
    check_hyper("epsilon value", eps, eps >= 0.0)
    check_hyper("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
    check_hyper("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
    check_hyper("weight_decay value", weight_decay, weight_decay >= 0.0)
    if differentiable:
        raise invalid(f"{name}: differentiable=True is not supported (updates run under "
                      "no_grad)", NotImplementedError)


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t (PyTorch's formula):
    g = -g if maximize; g += weight_decay * p (or p *= 1 - lr * weight_decay when
    decoupled_weight_decay); m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
    v_max = max(v_max, v) with amsgrad; p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 -
    beta2^t) + eps). The bias corrections are float32 math on the step tensor (PyTorch computes
    them in float64 unless capturable=True). Each parameter's update is one `adam_update` op
    (unified/ops/optim.py) reading the hyper-parameters from a small tensor, so a traced step
    follows lr changes; amsgrad or a Tensor lr run as composed elementwise ops instead.
    foreach/fused/capturable are accepted and ignored.

    >>> import unified as U
    >>> w = U.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = U.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]  # the first Adam step moves each weight by lr
    [0.9, -0.9]
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        check_adam_hyper(type(self).__name__, lr, betas, eps, weight_decay, differentiable)
        defaults = {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        return self._step_all(closure)

    def _state(self, p: Tensor, amsgrad: bool) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = tensor(0.0)
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = zeros_like(p)
        return state

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        if group["amsgrad"] or isinstance(group["lr"], Tensor):
            return self._update_composed(p, group)
        state = self._state(p, False)
        apply_update(adam_update, (p, p.grad, state["exp_avg"], state["exp_avg_sq"],
                                   state["step"], self._hyper(group, adam_hyper)))

    def _update_composed(self, p: Tensor, group: dict[str, Any]) -> None:
        """The same update as registered elementwise ops, for amsgrad or a Tensor lr."""
        grad = -p.grad if group["maximize"] else p.grad
        state = self._state(p, group["amsgrad"])
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        step = state["step"].add_(1.0)
        if weight_decay != 0:
            if group.get("decoupled_weight_decay", False):
                p.mul_(1.0 - lr * weight_decay)
            else:
                grad = grad + p * weight_decay
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, grad, 1.0 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * grad * (1.0 - beta2))
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"].copy_(maximum(state["max_exp_avg_sq"], exp_avg_sq))
        bias_correction1 = 1.0 - pow(beta1, step)
        bias_correction2 = 1.0 - pow(beta2, step)
        step_size = lr / bias_correction1
        denom = sqrt(second) / sqrt(bias_correction2) + group["eps"]
        p.add_(exp_avg / denom * -step_size)
