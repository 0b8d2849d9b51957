"""nn.Module: attribute registration, traversal (shared parameters once), train/eval, apply,
zero_grad, requires_grad_, to(), forward hooks with removable handles, and the tree repr."""

import inspect

import numpy as np
import pytest

import unified as U
from unified import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = nn.Parameter(U.ones(2))
        self.register_buffer("count", U.zeros(1))
        self.register_buffer("scratch", U.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block()
        self.b = Block()
        self.b.fc = self.a.fc  # shared submodule

    def forward(self, x):
        return self.b(self.a(x).relu().reshape(-1, 2) @ U.ones(2, 3))


def test_assignment_registers_parameters_buffers_and_modules():
    block = Block()
    assert list(block._parameters) == ["scale"] and list(block._modules) == ["fc"]
    assert list(block._buffers) == ["count", "scratch"]
    assert [n for n, _ in block.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in block.named_buffers()] == ["count", "scratch"]
    assert isinstance(block.scale, nn.Parameter) and block.scale.requires_grad


def test_shared_parameters_and_modules_are_listed_once():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.scale", "a.fc.weight", "a.fc.bias", "b.scale"]
    assert len(list(net.parameters())) == 4
    assert [n for n, _ in net.named_modules()] == ["", "a", "a.fc", "b"]
    assert [n for n, _ in net.named_children()] == ["a", "b"]
    assert len(list(net.named_parameters(remove_duplicate=False))) == 6


def test_reassigning_and_deleting_attributes():
    block = Block()
    block.scale = None
    assert block.scale is None and "scale" in block._parameters
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        block.scale = U.ones(2)
    block.count = U.full((1,), 5.0)
    assert block._buffers["count"].tolist() == [5.0]
    block.fc = nn.Identity()
    assert isinstance(block._modules["fc"], nn.Identity)
    del block.fc
    assert "fc" not in block._modules
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'fc'"):
        _ = block.fc
    block.plain = 3
    assert block.plain == 3 and "plain" not in block._modules


def test_register_errors_name_the_problem():
    block = Block()
    with pytest.raises(KeyError, match="can't contain '.'"):
        block.register_buffer("a.b", U.zeros(1))
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        block.register_parameter("forward", nn.Parameter(U.zeros(1)))
    with pytest.raises(TypeError, match="as buffer 'x'"):
        block.register_buffer("x", [1, 2])

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(U.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_train_eval_apply_and_requires_grad():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Block", "Linear", "Block", "Net"]  # as PyTorch: no memo
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad_sets_to_none_or_zeros():
    block = Block()
    block(U.ones(4, 3)).sum().backward()
    assert block.fc.weight.grad is not None
    block.zero_grad(set_to_none=False)
    assert np.all(block.fc.weight.grad.numpy() == 0)
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_to_accepts_cpu_and_float32_and_rejects_others():
    block = Block()
    assert block.to("cpu") is block and block.to(U.float32) is block
    assert block.to(device="cpu", dtype=U.float32) is block and block.cpu() is block
    if not U.cuda.is_available():
        with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
            block.to("cuda")
    with pytest.raises(TypeError, match="only accepts floating point dtypes, got int64"):
        block.to(U.int64)


def test_forward_hooks_and_pre_hooks_run_and_remove():
    layer = nn.Linear(2, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = layer(U.ones(3, 2))
    np.testing.assert_allclose(out.detach().numpy(), np.tile(layer.bias.detach().numpy() + 1,
                                                             (3, 1)), rtol=1e-6)
    assert calls == [(3, 2)]
    pre.remove()
    post.remove()
    out = layer(U.ones(1, 2))
    assert calls == [(3, 2)]
    expected = np.ones((1, 2)) @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)


def test_hooks_order_prepend_and_with_kwargs():
    layer = nn.Identity()
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("first"))
    layer.register_forward_hook(lambda m, a, o: order.append("prepended"), prepend=True)
    layer.register_forward_hook(lambda m, a, k, o: order.append(sorted(k)), with_kwargs=True)
    with layer.register_forward_pre_hook(lambda m, a: order.append("pre")):
        layer(U.ones(1))
    layer(U.ones(1))
    assert order == ["pre", "prepended", "first", [], "prepended", "first", []]


def test_repr_is_a_tree_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Dropout(0.2)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.2, inplace=False)\n"
        "  )\n"
        ")")


def test_module_without_forward_and_user_errors_keep_their_message():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(U.ones(1))

    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("my own message")

    with pytest.raises(ValueError) as info:
        Bad()(U.ones(1))
    assert info.value.args[0] == "my own message"


def test_op_error_in_forward_names_the_users_forward_line():
    class Mismatch(nn.Module):
        def forward(self, x):
            return x + U.ones(5)

    line = inspect.getsourcelines(Mismatch.forward)[1] + 1
    with pytest.raises(ValueError) as info:
        Mismatch()(U.ones(3))
    assert info.value.args[0].endswith(f"test_module.py:{line}")


def test_get_submodule_and_get_parameter():
    net = Net()
    assert net.get_submodule("a.fc") is net.a.fc
    assert net.get_parameter("a.fc.bias") is net.a.fc.bias
    with pytest.raises(AttributeError, match="no submodule 'c'"):
        net.get_submodule("c")
