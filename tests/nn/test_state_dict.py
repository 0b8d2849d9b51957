"""state_dict / load_state_dict: names and order, persistent buffers only, a round trip into a
fresh model, strict errors listing missing/unexpected keys and size mismatches with the
user's line, strict=False results, and NumPy values."""

import inspect

import numpy as np
import pytest

import unified as U
from unified import nn


def make_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))


def test_state_dict_keys_follow_pytorch_and_are_detached():
    model = make_model()
    model[1].register_buffer("tmp", U.zeros(1), persistent=False)
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                           "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"]
    assert not state["0.weight"].requires_grad and state["1.num_batches_tracked"].dtype == U.int64
    assert model.state_dict(keep_vars=True)["0.weight"] is model[0].weight


def test_round_trip_into_a_fresh_model_gives_equal_outputs():
    U.manual_seed(0)
    source, target = make_model(), make_model()
    source(U.randn(4, 1, 4, 4))  # training step: running stats change
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    x = U.randn(2, 1, 4, 4)
    source.eval(), target.eval()
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    assert target[1].num_batches_tracked.item() == 1


def test_loading_copies_values_and_keeps_parameter_objects():
    model = nn.Linear(2, 2)
    weight = model.weight
    model.load_state_dict({"weight": np.eye(2), "bias": [1.0, 2.0]})
    assert model.weight is weight
    assert model.weight.tolist() == [[1.0, 0.0], [0.0, 1.0]] and model.bias.tolist() == [1, 2]


def test_strict_error_lists_every_problem_at_the_users_line():
    model = nn.Sequential(nn.Linear(128, 10))
    state = {"0.weight": U.zeros(10, 64), "extra.weight": U.zeros(1)}
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = info.value.args[0]
    assert message.splitlines()[0] == (f"Error(s) in loading state_dict for Sequential at "
                                       f"test_state_dict.py:{line}:")
    assert "unexpected key(s) in state_dict: 'extra.weight'" in message
    assert "missing key(s) in state_dict: '0.bias'" in message
    assert "size mismatch for 0.weight: checkpoint (10, 64), model (10, 128)" in message


def test_non_strict_returns_missing_and_unexpected_keys():
    model = nn.Linear(2, 2)
    with U.no_grad():
        model.bias.fill_(7.0)
    result = model.load_state_dict({"weight": U.ones(2, 2), "other": U.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    assert model.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]] and model.bias.tolist() == [7, 7]
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        model.load_state_dict({"weight": U.ones(3, 2)}, strict=False)


def test_loaded_parameters_still_train():
    model = nn.Linear(2, 1)
    model.load_state_dict({"weight": U.tensor([[1.0, 2.0]]), "bias": U.tensor([0.5])})
    model(U.tensor([[1.0, 1.0]])).sum().backward()
    assert model.weight.grad.tolist() == [[1.0, 1.0]] and model.bias.grad.tolist() == [1.0]
