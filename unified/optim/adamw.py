"""AdamW: Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the Adam step),
torch.optim.AdamW's defaults (weight_decay=1e-2). The update itself is Adam's, in adam.py."""

from __future__ import annotations

from collections.abc import Iterable

from unified.optim.adam import Adam
from unified.tensor import Tensor


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    >>> import unified as U
    >>> w = U.tensor([1.0], requires_grad=True)
    >>> opt = U.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * 0.0).sum().backward()  # a zero gradient: only the decay moves w
    >>> opt.step()
    >>> round(w.item(), 4)  # 1 * (1 - 0.1 * 0.5)
    0.95
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
