"""nn.Parameter: a Tensor subclass that requires grad, shares memory with its data, works in
every operator (the functional fast paths check the exact class), pickles and deep-copies."""

import copy
import pickle

import numpy as np

import unified as U
from unified import nn


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(U.tensor([1.0, 2.0]))
    assert isinstance(p, U.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert not nn.Parameter(U.ones(1), requires_grad=False).requires_grad
    assert not isinstance(U.ones(1), nn.Parameter)
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")


def test_parameter_shares_memory_with_its_data():
    data = U.zeros(3)
    p = nn.Parameter(data)
    with U.no_grad():
        p.add_(1.0)
    assert data.tolist() == [1.0, 1.0, 1.0]


def test_parameter_works_in_operators_with_scalars_and_tensors():
    p = nn.Parameter(U.tensor([1.0, -2.0]))
    results = [p + 1, 1 + p, p * p, 2 * p, p - 1, 1 - p, p / 2, 2 / p, p ** 2, -p,
               U.where(p > 0, p, 0.0), U.where(p > 0, 0.0, p), U.maximum(p, 0.0)]
    expected = [[2, -1], [2, -1], [1, 4], [2, -4], [0, -3], [0, 3], [0.5, -1], [2, -1],
                [1, 4], [-1, 2], [1, 0], [0, -2], [1, 0]]
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got.detach().numpy(), want)
    sum(r.sum() for r in results[:4]).backward()
    np.testing.assert_allclose(p.grad.numpy(), [1 + 1 + 2 + 2, 1 + 1 - 4 + 2])


def test_copy_into_and_from_parameters():
    p = nn.Parameter(U.zeros(2))
    with U.no_grad():
        p.copy_(nn.Parameter(U.ones(2)))
    assert p.tolist() == [1.0, 1.0]


def test_parameter_pickles_and_deep_copies_as_a_parameter():
    p = nn.Parameter(U.tensor([3.0, 4.0]))
    for clone in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(clone) is nn.Parameter and clone.requires_grad
        assert clone.tolist() == [3.0, 4.0]
        with U.no_grad():
            clone.fill_(0)
    assert p.tolist() == [3.0, 4.0]


def test_deepcopy_of_a_module_keeps_sharing_inside_the_copy():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    twin = copy.deepcopy(model)
    assert twin[1].weight is twin[0].weight and twin[0].weight is not model[0].weight
    assert len(list(twin.parameters())) == 3
