"""GPU implementations of the optimizer updates (unified/ops/optim.py), the formulas of
core_cpp/kernels/optim.cpp: SGD (momentum, dampening, Nesterov, weight decay, maximize) and
Adam/AdamW. The hyper-parameter vector (and Adam's one-element step) is read on the host,
so it may stay a CPU tensor; dispatch writes each output into the input it replaces."""

from __future__ import annotations

import numpy as np

from unified.ops.gpu._table import gpu, host

_F32 = np.float32


def _sgd(xp, param, grad, buf, hyper):
    lr, momentum, keep, wd, nesterov, maximize, first = (float(v) for v in host(hyper))
    g = -grad if maximize else grad
    if wd != 0.0:
        g = g + _F32(wd) * param
    new_buf = None
    if buf is not None:
        new_buf = g * _F32(1.0) if first else buf * _F32(momentum) + _F32(keep) * g
        g = g + _F32(momentum) * new_buf if nesterov else new_buf
    return param + _F32(-lr) * g, new_buf


@gpu("sgd_update", host_inputs=(-1,))
def sgd_update(xp, param, grad, buf, hyper):
    return _sgd(xp, param, grad, buf, hyper)


@gpu("sgd_plain_update", host_inputs=(-1,))
def sgd_plain_update(xp, param, grad, hyper):
    return _sgd(xp, param, grad, None, hyper)[0]


@gpu("adam_update", host_inputs=(-2, -1))
def adam_update(xp, param, grad, m, v, step, hyper):
    lr, beta1, beta2, w1, w2, eps, wd, decay, decoupled, maximize = (
        _F32(x) for x in host(hyper))
    t = _F32(host(step).reshape(-1)[0]) + _F32(1.0)
    g = -grad if maximize else grad
    p = param
    if wd != 0.0:
        if decoupled:
            p = p * decay
        else:
            g = g + p * wd
    m = m + (g - m) * w1 if w1 < 0.5 else g - (g - m) * (_F32(1.0) - w1)
    v = v * beta2 + g * g * w2
    bias1 = _F32(1.0) - _F32(np.power(beta1, t))
    bias2_sqrt = np.sqrt(_F32(1.0) - _F32(np.power(beta2, t)))
    denom = xp.sqrt(v) / bias2_sqrt + eps
    new_step = np.full(np.shape(host(step)), t, _F32)
    return p + m / denom * _F32(-(lr / bias1)), m, v, new_step
