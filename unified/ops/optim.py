"""Optimizer update ops (core_cpp/kernels/optim.cpp): one fused kernel per parameter per step.
Each reads its hyper-parameters from `hyper`, a small float32 tensor (not attrs), so a traced
step reads them as state on every replay and a scheduler changing lr between calls takes
effect. `writes_inputs` names the inputs each output replaces: eager runs the op in place
through `dispatch.apply_update`; in a graph the outputs are ordinary values that become state
writes. unified/optim/ fills `hyper` from param_groups with the `*_hyper` functions below,
the one place that knows the layouts (mirrored by the k* constants in optim.cpp)."""

from __future__ import annotations

import numpy as np

from unified.errors import DTypeError, ShapeError, fmt_shape
from unified.ops.registry import OpDef, TensorMeta, register

NOT_DIFFERENTIABLE = "an optimizer update has no gradient (it runs under no_grad)"
ONNX = "optimizer updates are training-only; ONNX export covers inference graphs"


def sgd_hyper(group: dict, first: bool) -> list[float]:
    """[lr, momentum, 1 - dampening, weight_decay, nesterov, maximize, first step]."""
    return [float(group["lr"]), float(group["momentum"]), 1.0 - float(group["dampening"]),
            float(group["weight_decay"]), float(bool(group["nesterov"])),
            float(bool(group["maximize"])), float(first)]


def adam_hyper(group: dict) -> list[float]:
    """[lr, beta1, beta2, 1 - beta1, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay
    (decoupled; else 1), decoupled, maximize]."""
    lr, wd = float(group["lr"]), float(group["weight_decay"])
    beta1, beta2 = (float(b) for b in group["betas"])
    decoupled = bool(group.get("decoupled_weight_decay", False))
    return [lr, beta1, beta2, 1.0 - beta1, 1.0 - beta2, float(group["eps"]), wd,
            1.0 - lr * wd if decoupled else 1.0, float(decoupled), float(bool(group["maximize"]))]


SGD_HYPER_SIZE = 7
ADAM_HYPER_SIZE = 10


def _update_infer(name: str, roles: tuple[str, ...], hyper_size: int,
                  writes: tuple[int, ...], scalar: tuple[int, ...] = ()):
    """infer for an update op: every tensor operand float32 of the param's shape (the ones in
    `scalar` one element), hyper a float32 vector of `hyper_size`; outputs = written inputs."""
    def infer(*metas):
        param = metas[0]
        for role, meta in zip(roles, metas):
            if np.dtype(meta.dtype) != np.float32:
                raise DTypeError(f"{name}: {role} must be float32, got {meta.dtype}")
        for i, (role, meta) in enumerate(zip(roles[:-1], metas[:-1])):
            want = "one element" if i in scalar else f"the param's shape {fmt_shape(param.shape)}"
            ok = (int(np.prod(meta.shape)) == 1) if i in scalar else (
                tuple(meta.shape) == tuple(param.shape))
            if not ok:
                raise ShapeError(f"{name}: {role} must have {want}, got {fmt_shape(meta.shape)}")
        hyper = metas[-1]
        if tuple(hyper.shape) != (hyper_size,):
            raise ShapeError(f"{name}: hyper must have shape ({hyper_size},), got "
                             f"{fmt_shape(hyper.shape)}")
        outs = tuple(TensorMeta(tuple(metas[i].shape), np.dtype(np.float32)) for i in writes)
        return outs if len(outs) > 1 else outs[0]
    return infer


def _update_op(name: str, inputs: tuple[str, ...], hyper_size: int, writes: tuple[int, ...],
               doc: str, scalar: tuple[int, ...] = ()) -> OpDef:
    return register(OpDef(
        name=name, inputs=inputs, kernel=name, grad=None, num_outputs=len(writes),
        infer=_update_infer(name, inputs, hyper_size, writes, scalar), writes_inputs=writes,
        onnx_unsupported=ONNX, doc=doc,
    ))


sgd_update = _update_op(
    "sgd_update", ("param", "grad", "momentum_buf", "hyper"), SGD_HYPER_SIZE, (0, 2),
    doc="SGD with momentum (torch.optim.SGD): new (param, momentum_buf)")
sgd_plain_update = _update_op(
    "sgd_plain_update", ("param", "grad", "hyper"), SGD_HYPER_SIZE, (0,),
    doc="SGD without momentum: new param")
adam_update = _update_op(
    "adam_update", ("param", "grad", "exp_avg", "exp_avg_sq", "step", "hyper"),
    ADAM_HYPER_SIZE, (0, 2, 3, 4), scalar=(4,),
    doc="Adam/AdamW without amsgrad (torch.optim.Adam): new (param, exp_avg, exp_avg_sq, step)")
