"""Readable reprs (tensors and modules, against PyTorch's text when installed) and grad_fn as a
walkable graph: names, next_functions down to the leaves, inputs and attrs."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import unified as U


def test_tensor_repr_shows_values_dtype_and_autograd_state():
    x = U.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(x) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    assert repr(x * 2.0) == "tensor([[2., 4.],\n        [6., 8.]], grad_fn=<MulBackward>)"
    assert repr(U.tensor([1, 2], dtype=U.int32)) == "tensor([1, 2], dtype=int32)"
    assert repr(U.zeros(0, 3)) == "tensor([], size=(0, 3))"
    big = repr(U.zeros(40, 50))
    assert "..." in big and big.endswith("size=(40, 50))")


def test_tensor_repr_matches_pytorch_for_float_tensors():
    torch = pytest.importorskip("torch")
    data = np.array([[1.5, -2.0, 0.25], [3.0, 4.0, 5.0]], np.float32)
    ours = U.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    cases = [np.array([np.nan, 1.0, -np.inf]), rng.random((3, 30)), rng.random((40, 50)),
             rng.random((2, 3, 20)), rng.random(2000) * 100, rng.standard_normal((5, 5)) * 1e3,
             np.array([1e-5, 1.0]), np.array([0.0, 0.0]), np.array(3.5), rng.random((2, 2, 2, 12))]
    for case in cases:
        case = case.astype(np.float32)
        text = repr(U.tensor(case)).replace(f", size={tuple(case.shape)})", ")")
        assert text == repr(torch.tensor(case))
    assert repr(ours.log_softmax(1)).split("grad_fn=")[1] == "<LogSoftmaxBackward>)"
    assert repr(theirs.log_softmax(1)).split("grad_fn=")[1] == "<LogSoftmaxBackward0>)"


def test_grad_fn_walks_down_to_the_leaves():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    c = U.tensor([5.0, 6.0])
    y = ((x * 2.0 + c).sum(),)[0]
    assert x.grad_fn is None and y.grad_fn.name() == "SumBackward"
    names = []
    node = y.grad_fn
    while node is not None and node.name() != "AccumulateGrad":
        names.append(node.name())
        node = node.next_functions[0][0]
    assert names == ["SumBackward", "AddBackward", "MulBackward"]
    assert node.variable is x
    add = y.grad_fn.next_functions[0][0]
    assert add.next_functions[1] == (None, 0)  # c needs no grad
    assert add.op.name == "add" and add.inputs[1] is c
    s = x.sum(0, keepdim=True)
    assert s.grad_fn.attrs["keepdim"] is True


def test_multi_output_grad_fn_edges_carry_the_output_index():
    x = U.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    values, _ = x.max(1)
    node, index = (values * 1.0).grad_fn.next_functions[0]
    assert node is values.grad_fn and index == 0 and node.name() == "MaxBackward"


def test_module_repr_nests_like_pytorch():
    torch = pytest.importorskip("torch")

    def build(nn):
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Sequential(nn.Flatten(), nn.Linear(8, 4, bias=False)),
                             nn.Dropout(0.1))

    assert repr(build(U.nn)) == repr(build(torch.nn))


@pytest.mark.parametrize("name", ["unified.debug.anomaly", "unified.debug.summary",
                                  "unified.debug.gradcheck", "unified.nn.hooks",
                                  "unified.nn.module"])
def test_docstring_examples_of_the_debug_tools_run(name):
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    assert doctest.testmod(module, optionflags=flags).failed == 0
