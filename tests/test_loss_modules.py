"""Loss modules (unified/nn/loss.py): each calls its functional form with the options it holds,
keeps class weights as buffers, and reports errors at the caller's line."""

import doctest

import numpy as np
import pytest

import unified as U
import unified.functional as F
import unified.nn.loss as loss_module
from unified.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)


@pytest.fixture
def batch(rng):
    x = U.tensor(rng.normal(size=(5, 3)))
    t = U.tensor(np.array([0, 2, -100, 1, 2]))
    return x, t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_passes_its_options(batch, reduction):
    x, t = batch
    weight = U.tensor([0.5, 1.0, 2.0])
    module = CrossEntropyLoss(weight=weight, ignore_index=-100, reduction=reduction,
                              label_smoothing=0.1)
    want = F.cross_entropy(x, t, weight=weight, reduction=reduction, label_smoothing=0.1)
    np.testing.assert_array_equal(module(x, t).numpy(), want.numpy())


def test_nll_loss_module_passes_its_options(batch):
    x, t = batch
    logp = F.log_softmax(x, 1)
    module = NLLLoss(weight=U.tensor([1.0, 2.0, 3.0]), reduction="sum")
    want = F.nll_loss(logp, t, weight=U.tensor([1.0, 2.0, 3.0]), reduction="sum")
    assert module(logp, t).item() == want.item()


@pytest.mark.parametrize("cls,fn,kwargs", [
    (MSELoss, F.mse_loss, {}), (L1Loss, F.l1_loss, {}),
    (SmoothL1Loss, F.smooth_l1_loss, {"beta": 0.3}),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_loss_modules(rng, cls, fn, kwargs, reduction):
    x, y = U.tensor(rng.normal(size=(4, 2))), U.tensor(rng.normal(size=(4, 2)))
    got = cls(reduction=reduction, **kwargs)(x, y)
    np.testing.assert_array_equal(got.numpy(), fn(x, y, reduction=reduction, **kwargs).numpy())


def test_bce_modules(rng):
    x, y = U.tensor(rng.normal(size=(4, 2))), U.tensor(rng.uniform(size=(4, 2)))
    pos_weight, weight = U.tensor([2.0, 0.5]), U.tensor([1.0, 3.0])
    got = BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight)(x, y)
    want = F.binary_cross_entropy_with_logits(x, y, weight=weight, pos_weight=pos_weight)
    assert got.item() == want.item()
    p = F.sigmoid(x)
    assert BCELoss(weight=weight)(p, y).item() == F.binary_cross_entropy(p, y, weight).item()


def test_loss_gradient_flows_to_the_model(batch):
    x, t = batch
    layer = U.nn.Linear(3, 3)
    CrossEntropyLoss()(layer(x), t).backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (3, 3)


def test_class_weights_are_buffers():
    module = CrossEntropyLoss(weight=U.tensor([1.0, 2.0]))
    assert list(module.state_dict()) == ["weight"]
    assert list(CrossEntropyLoss().state_dict()) == []
    assert list(BCEWithLogitsLoss(pos_weight=U.ones(2)).state_dict()) == ["pos_weight"]
    assert list(module.parameters()) == []


def test_legacy_flags_set_the_reduction():
    assert MSELoss(size_average=False).reduction == "sum"
    assert L1Loss(reduce=False).reduction == "none"
    assert CrossEntropyLoss().reduction == "mean"


def test_loss_module_errors_name_the_callers_line():
    with pytest.raises(IndexError, match=r"target 4 is out of bounds for 3 classes") as info:
        CrossEntropyLoss()(U.zeros(2, 3), U.tensor([0, 4]))
    assert "test_loss_modules.py" in str(info.value)


def test_exported_from_unified_nn():
    assert U.nn.CrossEntropyLoss is CrossEntropyLoss
    assert U.nn.BCEWithLogitsLoss is BCEWithLogitsLoss
    assert repr(U.nn.MSELoss()) == "MSELoss()"


def test_loss_module_docstring_examples_run():
    result = doctest.testmod(loss_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
