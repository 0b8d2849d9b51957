"""Sequential, ModuleList and ModuleDict: registration (parameters/state_dict see children),
indexing, slicing, mutation and forward order."""

from collections import OrderedDict

import numpy as np
import pytest

import unified as U
from unified import nn


def test_sequential_runs_in_order_and_indexes():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    w0, b0 = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    w2, b2 = model[-1].weight.detach().numpy(), model[-1].bias.detach().numpy()
    expected = np.maximum(x @ w0.T + b0, 0) @ w2.T + b2
    np.testing.assert_allclose(model(U.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    assert isinstance(model[1:], nn.Sequential) and len(model[1:]) == 2
    assert list(model.state_dict())[:2] == ["0.weight", "0.bias"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        model[3]


def test_sequential_ordered_dict_names_and_mutation():
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in model.named_children()] == ["fc", "act"]
    assert model.fc is model[0]
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    seq.append(nn.Sigmoid())
    seq.insert(0, nn.Identity())
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Identity", "Tanh", "Sigmoid"]
    assert list(seq._modules) == ["0", "1", "2"]
    seq[0] = nn.ReLU()
    assert isinstance(seq[0], nn.ReLU)


def test_module_list_registers_and_mutates():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 1))
    layers += [nn.ReLU()]
    assert len(layers) == 4 and len(list(layers.parameters())) == 6
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    layers.insert(1, nn.Tanh())
    del layers[0]
    assert [type(m).__name__ for m in layers] == ["Tanh", "Linear", "Linear", "ReLU"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    with pytest.raises(TypeError, match="should be called with an iterable"):
        layers.extend(nn.ReLU())


def test_module_dict_behaves_like_a_dict():
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    heads.update([("c", nn.ReLU())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight",
                                                       "b.bias"]
    assert isinstance(heads.pop("c"), nn.ReLU) and list(heads.keys()) == ["a", "b"]
    with pytest.raises(KeyError, match="ModuleDict has no key 'z'"):
        heads["z"]
