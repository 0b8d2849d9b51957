"""Learning-rate schedulers against their closed-form formulas (PyTorch's) over several epochs,
OneCycleLR's documented shape, chaining, state_dict round trips and argument errors."""

import math
from bisect import bisect_right

import numpy as np
import pytest

import unified as U
from unified.optim import lr_scheduler as S


def _sgd(lr=0.1, groups=1, **hyper):
    params = [{"params": [U.zeros(1, requires_grad=True)], "lr": lr * (i + 1)}
              for i in range(groups)]
    return U.optim.SGD(params, lr=lr, **hyper)


def _rates(opt, sched, epochs):
    """get_last_lr() at each epoch, stepping the optimizer then the scheduler (PyTorch's order)."""
    rates = []
    for _ in range(epochs):
        rates.append(sched.get_last_lr())
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
    return np.array(rates)


def _closed(base_lrs, fn, epochs):
    return np.array([[base * fn(e) for base in base_lrs] for e in range(epochs)])


def test_step_lr_closed_form():
    opt = _sgd(0.1, groups=2)
    got = _rates(opt, S.StepLR(opt, step_size=3, gamma=0.5), 20)
    np.testing.assert_allclose(got, _closed([0.1, 0.2], lambda e: 0.5 ** (e // 3), 20),
                               rtol=1e-12)


def test_multistep_lr_closed_form_counts_repeated_milestones():
    opt = _sgd(1.0)
    milestones = [3, 7, 7, 12]
    got = _rates(opt, S.MultiStepLR(opt, milestones, gamma=0.1), 16)
    want = _closed([1.0], lambda e: 0.1 ** bisect_right(milestones, e), 16)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_closed_form_over_three_periods(eta_min):
    opt = _sgd(0.1, groups=2)
    t_max = 10
    got = _rates(opt, S.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), 3 * t_max + 1)
    want = [[eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2
             for base in (0.1, 0.2)] for e in range(3 * t_max + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_linear_lr_closed_form():
    opt = _sgd(0.3)
    got = _rates(opt, S.LinearLR(opt, start_factor=0.25, end_factor=0.75, total_iters=4), 9)
    want = _closed([0.3], lambda e: 0.25 + 0.5 * min(e, 4) / 4, 9)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_linear_warmup_chains_with_step_decay():
    # chained schedulers multiply their factors (PyTorch's recursive form)
    opt = _sgd(1.0)
    warmup = S.LinearLR(opt, start_factor=0.5, total_iters=4)
    decay = S.StepLR(opt, step_size=3, gamma=0.1)
    rates = []
    for _ in range(8):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        warmup.step()
        decay.step()
    want = [(0.5 + 0.5 * min(e, 4) / 4) * 0.1 ** (e // 3) for e in range(8)]
    np.testing.assert_allclose(rates, want, rtol=1e-12)


def _one_cycle_lr(step, total, max_lr, pct=0.3, div=25.0, final_div=1e4):
    """OneCycleLR's documented cosine schedule (two phases)."""
    initial = max_lr / div
    up_end = pct * total - 1
    if step <= up_end:
        start, end, frac = initial, max_lr, step / up_end
    else:
        start, end, frac = max_lr, initial / final_div, (step - up_end) / (total - 1 - up_end)
    return end + (start - end) / 2 * (1 + math.cos(math.pi * frac))


def test_one_cycle_follows_the_documented_cosine_shape():
    total = 20
    opt = _sgd(0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=total)
    rates, momenta = [], []
    for _ in range(total):
        rates.append(sched.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(rates, [_one_cycle_lr(s, total, 1.0) for s in range(total)],
                               rtol=1e-12)
    peak = int(np.argmax(rates))
    assert rates[0] == pytest.approx(1.0 / 25) and rates[peak] == pytest.approx(1.0)
    assert peak == 5 and rates[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert np.all(np.diff(rates[:peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)
    # momentum runs the opposite way: max at the ends, base at the peak of lr
    assert momenta[0] == pytest.approx(0.95) and momenta[peak] == pytest.approx(0.85)
    assert momenta[-1] == pytest.approx(0.95)


def test_one_cycle_cycles_adams_beta1_and_stops_after_total_steps():
    opt = U.optim.Adam([U.zeros(1, requires_grad=True)])
    sched = S.OneCycleLR(opt, max_lr=0.01, epochs=2, steps_per_epoch=3, base_momentum=0.8,
                         anneal_strategy="linear")
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    for _ in range(6):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 7 times.*total steps is 6"):
        sched.step()


def test_one_cycle_three_phase_returns_to_initial_then_anneals():
    opt = _sgd(0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=21, pct_start=0.25, three_phase=True)
    rates = [sched.get_last_lr()[0]]
    for _ in range(20):
        sched.step()
        rates.append(sched.get_last_lr()[0])
    # phases end at steps 4.25 (max), 8.5 (initial again) and 20 (min)
    assert max(rates) == pytest.approx(_annealed(0.04, 1.0, 4 / 4.25))
    assert rates[-1] == pytest.approx(0.04 / 1e4)


def _annealed(start, end, pct):
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))


def test_scheduler_state_dict_round_trip():
    opt_a = _sgd(0.1)
    sched_a = S.CosineAnnealingLR(opt_a, T_max=7)
    _rates(opt_a, sched_a, 4)
    opt_b = _sgd(0.1)
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b = S.CosineAnnealingLR(opt_b, T_max=7, last_epoch=3)
    sched_b.load_state_dict(sched_a.state_dict())
    assert "optimizer" not in sched_a.state_dict()
    np.testing.assert_allclose(_rates(opt_b, sched_b, 6), _rates(opt_a, sched_a, 6), rtol=0)


def test_step_with_epoch_uses_the_closed_form_and_warns():
    opt = _sgd(1.0)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(5)
    assert sched.get_last_lr() == [0.25]


def test_tensor_lr_is_filled_in_place():
    lr = U.tensor(1.0)
    opt = U.optim.SGD([U.zeros(1, requires_grad=True)], lr=lr)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == 0.5
    assert sched.get_last_lr() == [0.5]


def test_scheduler_argument_errors():
    opt = _sgd()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        S.StepLR([], step_size=1)
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[0\]"):
        S.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="either total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="positive integer total_steps, but got 0"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        S.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=5)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.OneCycleLR(U.optim.Optimizer([U.zeros(1, requires_grad=True)], {"lr": 0.1}),
                     max_lr=1.0, total_steps=5)
