"""Op table rows for unified/ops/optim.py: the fused optimizer updates, run in place (eager's
dispatch.apply_update, as the optimizers call them) and out of place (dispatch.apply, as a
graph runs them), against PyTorch's formulas in NumPy, over each hyper-parameter branch
(momentum first step and later steps, dampening, nesterov, weight decay, maximize; Adam's
coupled and decoupled weight decay), with a transposed gradient for the strided loop."""

import numpy as np

from tests.op_cases import Arg, OpCase
from unified.dispatch import apply, apply_update
from unified.ops import optim as optim_ops

SHAPE = (3, 4)


def _sgd_hyper(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False,
               maximize=False, first=False):
    group = {"lr": lr, "momentum": momentum, "dampening": dampening,
             "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
    return group, Arg((optim_ops.SGD_HYPER_SIZE,), value=optim_ops.sgd_hyper(group, first),
                      grad=False)


def _sgd_ref(group, first, momentum_buf=True):
    def ref(p, g, *rest):
        g = -g if group["maximize"] else g
        g = g + group["weight_decay"] * p
        if not momentum_buf:
            return (p - group["lr"] * g,)
        buf = rest[0]
        buf = g if first else group["momentum"] * buf + (1 - group["dampening"]) * g
        g = g + group["momentum"] * buf if group["nesterov"] else buf
        return p - group["lr"] * g, buf
    return ref


def _sgd_case(name, in_place=True, first=False, grad_layout="contiguous", **hyper):
    group, hyper_arg = _sgd_hyper(first=first, **hyper)
    plain = group["momentum"] == 0
    op = optim_ops.sgd_plain_update if plain else optim_ops.sgd_update
    run = apply_update if in_place else apply
    grad = Arg(SHAPE, layout=grad_layout)
    args = (Arg(SHAPE), grad) + (() if plain else (Arg(SHAPE),)) + (hyper_arg,)
    return OpCase(name, lambda *t: run(op, t), _sgd_ref(group, first, not plain), args,
                  grad=False)


def _adam_ref(group):
    def ref(p, g, m, v, step, hyper):
        beta1, beta2 = group["betas"]
        g = -g if group["maximize"] else g
        if group["decoupled_weight_decay"]:
            p = p * (1 - group["lr"] * group["weight_decay"])
        else:
            g = g + p * group["weight_decay"]
        t = step + 1
        m = m + (g - m) * (1 - beta1)
        v = v * beta2 + g * g * (1 - beta2)
        denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + group["eps"]
        return p - group["lr"] / (1 - beta1 ** t) * m / denom, m, v, t
    return ref


def _adam_case(name, in_place=True, step=2.0, **hyper):
    group = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
             "maximize": False, "decoupled_weight_decay": False, **hyper}
    run = apply_update if in_place else apply
    args = (Arg(SHAPE), Arg(SHAPE), Arg(SHAPE), Arg(SHAPE, "positive"),
            Arg((), value=step, grad=False),
            Arg((optim_ops.ADAM_HYPER_SIZE,), value=optim_ops.adam_hyper(group), grad=False))
    return OpCase(name, lambda *t: run(optim_ops.adam_update, t), _adam_ref(group), args,
                  grad=False, rtol=1e-4)


CASES = [
    _sgd_case("sgd_update_momentum"),
    _sgd_case("sgd_update_first_step_copies_the_gradient", first=True, dampening=0.3),
    _sgd_case("sgd_update_dampening_weight_decay_maximize", dampening=0.3, weight_decay=0.1,
              maximize=True),
    _sgd_case("sgd_update_nesterov", nesterov=True, weight_decay=0.01),
    _sgd_case("sgd_update_out_of_place", in_place=False, nesterov=True),
    _sgd_case("sgd_update_transposed_grad", grad_layout="transposed"),
    _sgd_case("sgd_plain_update", momentum=0.0, weight_decay=0.2),
    _sgd_case("sgd_plain_update_out_of_place_maximize", in_place=False, momentum=0.0,
              maximize=True),
    _adam_case("adam_update"),
    _adam_case("adam_update_first_step", step=0.0, weight_decay=0.1),
    _adam_case("adam_update_decoupled_maximize", decoupled_weight_decay=True, weight_decay=0.1,
               maximize=True),
    _adam_case("adam_update_out_of_place", in_place=False, step=5.0),
]
