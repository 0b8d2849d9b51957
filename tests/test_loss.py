"""unified.functional losses against NumPy references written from PyTorch's documented
formulas (float64), with gradients checked by central finite differences of the reference."""

import numpy as np
import pytest

import unified as U
import unified.functional as F
from tests.numeric import numeric_grad

REDUCTIONS = ["mean", "sum", "none"]


# ---- NumPy references --------------------------------------------------------------------------
def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_reduce(loss, reduction, denom=None):
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (loss.size if denom is None else denom)


def np_nll(logp, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """Class-index NLL (and cross entropy's smoothing term) on (N, C, ...) log-probabilities."""
    c = logp.shape[1]
    lp = np.moveaxis(logp, 1, -1)  # (N, ..., C)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    w_class = np.ones(c) if weight is None else weight
    w = w_class[safe] * valid
    picked = np.take_along_axis(lp, safe[..., None], -1)[..., 0]
    loss = -picked * w
    if smoothing:
        smooth = -(lp * w_class).sum(-1) * valid
        loss = (1 - smoothing) * loss + smoothing / c * smooth
    return np_reduce(loss, reduction, w.sum())


def np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean",
                     smoothing=0.0):
    unbatched = x.ndim == 1
    if unbatched:
        x, target = x[None], np.asarray(target)[None]
    out = np_nll(np_log_softmax(x, 1), target, weight, ignore_index, reduction, smoothing)
    return out[0] if unbatched and reduction == "none" else out


def np_cross_entropy_probs(x, probs, weight=None, reduction="mean", smoothing=0.0):
    c = x.shape[1]
    logp = np_log_softmax(x, 1)
    if weight is not None:
        logp = logp * weight.reshape((1, c) + (1,) * (x.ndim - 2))
    probs = probs * (1 - smoothing) + smoothing / c
    loss = -(logp * probs).sum(1)
    return np_reduce(loss, reduction)


def np_bce_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    sig = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    if weight is not None:
        loss = loss * weight
    return np_reduce(loss, reduction)


# ---- harness -------------------------------------------------------------------------------------


def check_loss(ours, ref, x, rtol=1e-5, atol=1e-6, grad_tol=2e-4):
    """ours(U tensor) vs ref(np array): values, then d sum(loss * w)/dx vs finite differences."""
    xt = U.tensor(x.astype(np.float32), requires_grad=True)
    out = ours(xt)
    want = ref(x.astype(np.float64))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=rtol, atol=atol)
    w = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(want))
    (out * U.tensor(w.astype(np.float32))).sum().backward()
    expected = numeric_grad(lambda v: float(np.sum(ref(v) * w)), x.astype(np.float64).copy())
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=grad_tol, atol=grad_tol)


# ---- cross_entropy and nll_loss ----------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_reference(rng, reduction):
    x = rng.normal(size=(5, 4))
    t = np.array([0, 3, 1, 2, 3])
    check_loss(lambda v: F.cross_entropy(v, U.tensor(t), reduction=reduction),
               lambda v: np_cross_entropy(v, t, reduction=reduction), x)


def test_cross_entropy_hand_computed_value():
    # two equal logits: -log(1/2); logits (0, log 3): -log(3/4) for class 1
    x = U.tensor([[0.0, 0.0], [0.0, float(np.log(3.0))]])
    got = F.cross_entropy(x, U.tensor([0, 1]), reduction="none").tolist()
    np.testing.assert_allclose(got, [np.log(2.0), -np.log(0.75)], rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weight_and_ignore_index(rng, reduction):
    x = rng.normal(size=(6, 3))
    t = np.array([0, -100, 2, 1, -100, 2])
    weight = np.array([0.5, 2.0, 1.5])
    check_loss(lambda v: F.cross_entropy(v, U.tensor(t), weight=U.tensor(weight),
                                         reduction=reduction),
               lambda v: np_cross_entropy(v, t, weight, reduction=reduction), x)


def test_cross_entropy_custom_ignore_index_is_excluded_from_the_mean(rng):
    x = rng.normal(size=(4, 3))
    t = np.array([1, 2, 2, 0])
    got = F.cross_entropy(U.tensor(x), U.tensor(t), ignore_index=2).item()
    want = np_cross_entropy(x[[0, 3]], np.array([1, 0]))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_label_smoothing_with_weight_and_ignore(rng, reduction):
    x = rng.normal(size=(5, 4))
    t = np.array([3, 0, -100, 1, 1])
    weight = np.array([1.0, 0.25, 2.0, 0.75])
    check_loss(lambda v: F.cross_entropy(v, U.tensor(t), weight=U.tensor(weight),
                                         reduction=reduction, label_smoothing=0.2),
               lambda v: np_cross_entropy(v, t, weight, reduction=reduction, smoothing=0.2), x)


def test_cross_entropy_label_smoothing_hand_computed():
    # uniform logits over 4 classes: every log-probability is -log 4, whatever the smoothing
    loss = F.cross_entropy(U.zeros(1, 4), U.tensor([2]), label_smoothing=0.3).item()
    np.testing.assert_allclose(loss, np.log(4.0), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_input(rng, reduction):
    x = rng.normal(size=(2, 3, 2, 3))
    t = rng.integers(0, 3, size=(2, 2, 3))
    t[0, 1, 2] = -100
    check_loss(lambda v: F.cross_entropy(v, U.tensor(t), reduction=reduction,
                                         label_smoothing=0.1),
               lambda v: np_cross_entropy(v, t, reduction=reduction, smoothing=0.1), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_unbatched_input(rng, reduction):
    x = rng.normal(size=(5,))
    out = F.cross_entropy(U.tensor(x), U.tensor(3), reduction=reduction)
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), np_cross_entropy(x, 3, reduction=reduction),
                               rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(rng, reduction):
    x = rng.normal(size=(4, 3, 2))
    probs = rng.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1).copy()
    weight = np.array([1.0, 0.5, 2.0])
    check_loss(lambda v: F.cross_entropy(v, U.tensor(probs.astype(np.float32)),
                                         weight=U.tensor(weight), reduction=reduction,
                                         label_smoothing=0.1),
               lambda v: np_cross_entropy_probs(v, probs, weight, reduction, 0.1), x)


def test_cross_entropy_probability_targets_equal_class_targets_when_one_hot(rng):
    x = U.tensor(rng.normal(size=(3, 4)))
    t = U.tensor([1, 0, 3])
    one_hot = F.one_hot(t, 4).float()
    np.testing.assert_allclose(F.cross_entropy(x, one_hot).item(),
                               F.cross_entropy(x, t).item(), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_reference(rng, reduction):
    logp = np_log_softmax(rng.normal(size=(5, 3)), 1)
    t = np.array([2, 0, -100, 1, 2])
    weight = np.array([2.0, 1.0, 0.5])
    check_loss(lambda v: F.nll_loss(v, U.tensor(t), weight=U.tensor(weight),
                                    reduction=reduction),
               lambda v: np_nll(v, t, weight, reduction=reduction), logp)


def test_nll_loss_all_targets_ignored_gives_nan_mean():
    out = F.nll_loss(U.zeros(2, 3), U.tensor([-100, -100]))
    assert np.isnan(out.item())  # 0 / 0, as in PyTorch


# ---- binary and pointwise losses ----------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_reference(rng, reduction):
    x = rng.normal(scale=3.0, size=(4, 3))
    t = rng.uniform(size=(4, 3))
    weight = rng.uniform(0.5, 2.0, size=(3,))
    pos_weight = np.array([1.0, 3.0, 0.5])
    check_loss(lambda v: F.binary_cross_entropy_with_logits(
                   v, U.tensor(t), weight=U.tensor(weight), reduction=reduction,
                   pos_weight=U.tensor(pos_weight)),
               lambda v: np_bce_logits(v, t, weight, pos_weight, reduction), x)


def test_bce_with_logits_is_finite_for_large_logits():
    x = U.tensor([-200.0, 200.0])
    loss = F.binary_cross_entropy_with_logits(x, U.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.tolist(), [200.0, 200.0], rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_reference(rng, reduction):
    p = rng.uniform(0.05, 0.95, size=(3, 4))
    t = rng.uniform(size=(3, 4))
    def ref(v):
        return np_reduce(-(t * np.log(v) + (1 - t) * np.log(1 - v)), reduction)

    check_loss(lambda v: F.binary_cross_entropy(v, U.tensor(t), reduction=reduction), ref, p)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    loss = F.binary_cross_entropy(U.tensor([0.0]), U.tensor([1.0])).item()
    assert loss == pytest.approx(100.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_match_reference(rng, reduction):
    x = rng.normal(size=(3, 4))
    t = rng.normal(size=(3, 4))
    check_loss(lambda v: F.mse_loss(v, U.tensor(t), reduction=reduction),
               lambda v: np_reduce((v - t) ** 2, reduction), x)
    check_loss(lambda v: F.l1_loss(v, U.tensor(t), reduction=reduction),
               lambda v: np_reduce(np.abs(v - t), reduction), x)


def test_weighted_mse_mean_divides_by_the_weight_sum(rng):
    x, t, w = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.uniform(size=(2, 3))
    got = F.mse_loss(U.tensor(x), U.tensor(t), weight=U.tensor(w)).item()
    np.testing.assert_allclose(got, ((x - t) ** 2 * w).sum() / w.sum(), rtol=1e-5)


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_smooth_l1_matches_reference(rng, beta):
    x = rng.normal(size=(10,))
    t = rng.normal(size=(10,))

    def ref(v):
        d = np.abs(v - t)
        return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta).mean()

    check_loss(lambda v: F.smooth_l1_loss(v, U.tensor(t), beta=beta), ref, x)


def test_legacy_size_average_false_means_sum():
    x, t = U.tensor([1.0, 2.0]), U.tensor([0.0, 0.0])
    with pytest.warns(UserWarning, match="deprecated"):
        out = F.mse_loss(x, t, size_average=False)
    assert out.item() == 5.0


# ---- errors -------------------------------------------------------------------------------------
def test_cross_entropy_target_out_of_range_names_value_and_classes():
    with pytest.raises(IndexError, match=r"target 7 is out of bounds for 3 classes") as info:
        F.cross_entropy(U.zeros(2, 3), U.tensor([1, 7]))
    assert "test_loss.py" in str(info.value)


def test_cross_entropy_negative_target_is_out_of_range():
    with pytest.raises(IndexError, match=r"target -1 is out of bounds for 3 classes"):
        F.cross_entropy(U.zeros(2, 3), U.tensor([-1, 0]))


def test_cross_entropy_shape_mismatch_names_both_shapes():
    with pytest.raises(U.ShapeError, match=r"target shape \(3,\).*input shape \(2, 5\)"):
        F.cross_entropy(U.zeros(2, 5), U.tensor([0, 1, 2]))


def test_cross_entropy_float_target_of_wrong_shape_is_a_dtype_error():
    with pytest.raises(U.DTypeError, match=r"int64 class indices.*float32"):
        F.cross_entropy(U.zeros(2, 5), U.zeros(2))


def test_cross_entropy_weight_of_wrong_size():
    with pytest.raises(U.ShapeError, match=r"weight must have shape \(5,\).*\(3,\)"):
        F.cross_entropy(U.zeros(2, 5), U.tensor([0, 1]), weight=U.ones(3))


def test_bad_reduction_and_label_smoothing_are_value_errors():
    with pytest.raises(ValueError, match="reduction must be .*'avg'"):
        F.cross_entropy(U.zeros(2, 3), U.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0, got 1.5"):
        F.cross_entropy(U.zeros(2, 3), U.tensor([0, 1]), label_smoothing=1.5)


def test_bce_with_logits_target_size_must_match():
    with pytest.raises(U.ShapeError, match=r"target size \(3,\).*input size \(2,\)"):
        F.binary_cross_entropy_with_logits(U.zeros(2), U.zeros(3))


def test_mse_broadcast_warns_and_incompatible_shapes_raise():
    with pytest.warns(UserWarning, match=r"target size \(1,\).*input size \(3,\)"):
        F.mse_loss(U.zeros(3), U.zeros(1))
    with pytest.raises(U.ShapeError, match=r"input \(3,\) and target \(2,\)"):
        F.mse_loss(U.zeros(3), U.zeros(2))
