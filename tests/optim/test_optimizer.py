"""The Optimizer base class: param groups and defaults, zero_grad, closures, state_dict round
trips (a fresh optimizer loaded from a state_dict continues identically), argument errors, and
that every update goes through dispatched ops (so a traced step sees it)."""

import copy

import numpy as np
import pytest

import unified as U
from unified.dispatch import observe

OPTIMIZERS = [
    (U.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (U.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    (U.optim.AdamW, {"lr": 0.01}),
    (U.optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
]


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [U.tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 2), (2,)]]


def _grads(step):
    rng = np.random.default_rng(100 + step)
    return [U.tensor(rng.normal(size=s)) for s in [(3, 2), (2,)]]


def _step(opt, params, step):
    for p, g in zip(params, _grads(step)):
        p.grad = g
    opt.step()


@pytest.mark.parametrize("opt_cls,hyper", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", ""))
def test_state_dict_round_trip_continues_identically(opt_cls, hyper):
    params_a = _params()
    opt_a = opt_cls([{"params": [params_a[0]]}, {"params": [params_a[1]], "lr": 0.003}], **hyper)
    for step in range(2):
        _step(opt_a, params_a, step)
    saved = copy.deepcopy(opt_a.state_dict())
    params_b = [U.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params_a]
    opt_b = opt_cls([{"params": [params_b[0]]}, {"params": [params_b[1]]}], **hyper)
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[1]["lr"] == 0.003  # hyper-parameters come from the state_dict
    for step in range(2, 4):
        _step(opt_a, params_a, step)
        _step(opt_b, params_b, step)
    for a, b in zip(params_a, params_b):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout_is_pytorchs():
    params = _params()
    opt = U.optim.Adam(params, lr=0.01)
    _step(opt, params, 0)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sorted(sd["state"]) == [0, 1]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    group = sd["param_groups"][0]
    assert group["params"] == [0, 1] and group["lr"] == 0.01 and group["betas"] == (0.9, 0.999)


def test_load_state_dict_copies_the_state():
    params = _params()
    opt = U.optim.SGD(params, lr=0.1, momentum=0.9)
    _step(opt, params, 0)
    saved = opt.state_dict()
    before = saved["state"][0]["momentum_buffer"].numpy().copy()
    other = U.optim.SGD(_params(), lr=0.1, momentum=0.9)
    other.load_state_dict(saved)
    _step(other, other.param_groups[0]["params"], 1)
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"].numpy(), before)


def test_load_state_dict_accepts_a_numeric_step():
    params = _params()
    opt = U.optim.Adam(params)
    _step(opt, params, 0)
    saved = opt.state_dict()
    saved["state"][0]["step"] = 1  # older PyTorch checkpoints store a number
    fresh = U.optim.Adam(_params())
    fresh.load_state_dict(saved)
    assert isinstance(fresh.state[fresh.param_groups[0]["params"][0]]["step"], U.Tensor)


def test_load_state_dict_rejects_other_group_layouts():
    opt = U.optim.SGD(_params(), lr=0.1)
    two_groups = U.optim.SGD([{"params": [p]} for p in _params()], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two_groups.state_dict())
    one_param = U.optim.SGD(_params()[:1], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(one_param.state_dict())


def test_groups_take_defaults_and_their_own_values():
    a, b = _params()
    opt = U.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"][0] is b  # a lone tensor becomes a one-item list
    a.grad, b.grad = U.ones(3, 2), U.ones(2)
    opt.step()
    np.testing.assert_allclose(b.detach().numpy(), _params()[1].detach().numpy() - 0.5,
                               rtol=1e-6)


def test_add_param_group_trains_the_new_parameters():
    a, b = _params()
    opt = U.optim.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 1.0})
    b.grad = U.ones(2)
    opt.step()
    np.testing.assert_allclose(b.detach().numpy(), _params()[1].detach().numpy() - 1.0,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_parameters_without_grad_are_skipped():
    a, b = _params()
    opt = U.optim.Adam([a, b], lr=0.1)
    a.grad = U.ones(3, 2)
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), _params()[1].detach().numpy())
    assert b not in opt.state


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    a, b = _params()
    opt = U.optim.SGD([a, b])
    (a.sum() + b.sum()).backward()
    opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert a.grad is None and b.grad is None
    else:
        assert a.grad.tolist() == [[0.0, 0.0]] * 3 and not a.grad.requires_grad


def test_step_with_closure_returns_the_loss():
    w = U.tensor([3.0], requires_grad=True)
    opt = U.optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and w.item() == pytest.approx(1.5)  # 3 - 0.25 * 6


def test_tensor_lr_is_read_at_each_step():
    lr = U.tensor(0.5)
    w = U.tensor([1.0], requires_grad=True)
    opt = U.optim.SGD([w], lr=lr)
    w.grad = U.tensor([1.0])
    opt.step()
    lr.fill_(0.25)
    opt.step()
    assert w.item() == pytest.approx(0.25)


@pytest.mark.parametrize("opt_cls,hyper", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_write_to_a_parameter_is_a_dispatched_op(opt_cls, hyper):
    params = _params()
    opt = opt_cls(params, **hyper)
    before = [p.detach().numpy().copy() for p in params]
    written = []
    with observe(lambda op, inputs, attrs, out: written.extend(
            out if isinstance(out, tuple) else (out,))):  # update ops give written tensors
        _step(opt, params, 0)
    for p, old in zip(params, before):
        assert any(out is p for out in written), "the update bypassed the dispatcher"
        assert not np.array_equal(p.detach().numpy(), old)
    assert all(not p.requires_grad or p.grad_fn is None for p in params)


def test_bad_params_are_reported():
    w = U.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got Tensor"):
        U.optim.SGD(w)
    with pytest.raises(ValueError, match="empty parameter list"):
        U.optim.SGD([])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor") as info:
        U.optim.SGD([w * 2])
    assert "test_optimizer.py" in str(info.value)
    with pytest.raises(TypeError, match=r"params\[1\] is int"):
        U.optim.SGD([w, 3])
    with pytest.raises(TypeError, match="ordered collections"):
        U.optim.SGD([{"params": {w}}])
    with pytest.raises(ValueError, match="duplicate parameters"):
        U.optim.SGD([w, w])


def test_named_parameters_are_accepted():
    a, b = _params()
    opt = U.optim.SGD([("a", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["a", "b"]
    assert opt.param_groups[0]["params"][0] is a


def test_repr_lists_groups():
    text = repr(U.optim.SGD(_params(), lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1" in text
