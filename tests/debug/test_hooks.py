"""Module hooks (forward pre, forward, full backward) and tensor gradient hooks: the order they
fire in (checked against PyTorch when it is installed, and against the documented order),
removal, and gradients changed by hooks (against hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U

W = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]], np.float32)  # Linear(2, 3) weight


def _events(lib, nn, tensor):
    """Run one hooked forward/backward in `lib` (unified or torch); the hook events in order."""
    events = []
    layer = nn.Linear(2, 3)
    with lib.no_grad():
        layer.weight.copy_(tensor(W))
        layer.bias.fill_(0.0)
    handles = [
        layer.register_forward_pre_hook(lambda m, args: events.append("forward_pre")),
        layer.register_forward_hook(lambda m, args, out: events.append("forward")),
        layer.register_full_backward_hook(lambda m, gin, gout: events.append("module_backward")),
    ]
    x = tensor(np.array([[1.0, 2.0]], np.float32)).requires_grad_(True)
    handles.append(x.register_hook(lambda g: events.append("x_grad")))
    handles.append(x.register_post_accumulate_grad_hook(lambda t: events.append("x_accumulated")))
    y = layer(x)
    handles.append(y.register_hook(lambda g: events.append("y_grad")))
    y.sum().backward()
    grad_once = x.grad.tolist()
    for h in handles:
        h.remove()
    x.grad = None
    layer(x).sum().backward()
    return events, grad_once, x.grad.tolist()


EXPECTED = ["forward_pre", "forward", "y_grad", "module_backward", "x_grad", "x_accumulated"]


def test_hooks_fire_in_the_documented_order_and_stop_after_remove():
    events, grad_once, grad_again = _events(U, U.nn, U.tensor)
    assert events == EXPECTED
    assert grad_once == grad_again == [W.sum(0).tolist()]


def test_hook_order_matches_pytorch():
    torch = pytest.importorskip("torch")
    events, _, _ = _events(torch, torch.nn, lambda a: torch.tensor(a))
    assert events == EXPECTED


def test_full_backward_hook_sees_grad_input_and_grad_output_and_can_replace_grad_input():
    layer = U.nn.Linear(2, 3)
    with U.no_grad():
        layer.weight.copy_(U.tensor(W))
    seen = {}

    def hook(module, grad_input, grad_output):
        seen["in"] = [g.tolist() for g in grad_input]
        seen["out"] = [g.tolist() for g in grad_output]
        return (grad_input[0] * 0.0 + 7.0,)

    handle = layer.register_full_backward_hook(hook)
    x = U.tensor([[1.0, 2.0]], requires_grad=True)
    (layer(x) * U.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert seen["out"] == [[[1.0, 2.0, 3.0]]]
    assert np.allclose(seen["in"], [[np.array([1.0, 2.0, 3.0]) @ W]])
    assert x.grad.tolist() == [[7.0, 7.0]]  # the replacement reached the input
    assert layer.weight.grad.tolist() == [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]  # untouched
    handle.remove()
    x.grad = None
    layer(x).sum().backward()
    assert np.allclose(x.grad.numpy(), W.sum(0, keepdims=True))


def test_full_backward_hook_with_inputs_that_need_no_grad():
    class Scale(U.nn.Module):
        def forward(self, a, b):
            return a * b

    module = Scale()
    seen = []
    module.register_full_backward_hook(lambda m, gin, gout: seen.append(
        [None if g is None else g.tolist() for g in gin]))
    a = U.tensor([2.0, 3.0])
    b = U.tensor([5.0, 7.0], requires_grad=True)
    module(a, b).sum().backward()
    assert seen == [[None, [2.0, 3.0]]]
    layer = U.nn.Linear(2, 3)  # the output needs grad through the weights, the input not
    got = []
    layer.register_full_backward_hook(lambda m, gin, gout: got.append((gin, len(gout))))
    layer(U.ones(1, 2)).sum().backward()
    assert got == [((None,), 1)]


def test_full_backward_hook_returning_a_wrong_shape_is_a_clear_error():
    layer = U.nn.Linear(2, 3)
    layer.register_full_backward_hook(lambda m, gin, gout: (U.ones(5),))
    with pytest.raises(RuntimeError, match=r"backward hook of Linear returned a gradient of "
                                           r"shape \(5,\) for an input gradient of shape"):
        layer(U.ones(1, 2, requires_grad=True)).sum().backward()


def test_tensor_hook_on_a_non_leaf_changes_what_flows_back():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.register_hook(lambda g: g * 10.0)
    (y * y).sum().backward()  # d/dy = 2y = [6, 12]
    assert seen == [[6.0, 12.0]]
    assert x.grad.tolist() == [180.0, 360.0]  # 10 * 2y * 3


def test_tensor_hook_on_a_leaf_runs_once_on_the_summed_gradient():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(g.tolist())
        return g + 1.0

    handle = x.register_hook(hook)
    (x * 2.0 + x * x).sum().backward()  # 2 + 2x
    assert seen == [[4.0, 6.0]]
    assert x.grad.tolist() == [5.0, 7.0]
    handle.remove()
    x.grad = None
    (x * 2.0).sum().backward()
    assert seen == [[4.0, 6.0]] and x.grad.tolist() == [2.0, 2.0]


def test_tensor_hooks_run_for_autograd_grad_too():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 0.5)
    (g,) = U.autograd.grad((x * x).sum(), [x])
    assert g.tolist() == [1.0, 2.0]


def test_tensor_hook_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="does not require grad"):
        U.ones(2).register_hook(lambda g: g)
    x = U.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: U.ones(3))
    with pytest.raises(RuntimeError, match=r"returned \(3,\) for a gradient of shape \(2,\)"):
        (x * 2.0).sum().backward()


def test_forward_hooks_run_while_a_trace_records_only():
    layer = U.nn.ReLU()
    calls = []
    layer.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    step = U.trace(lambda x: layer(x) * 2.0)
    outs = [step(U.ones(2, 3)).tolist() for _ in range(4)]
    assert outs == [[[2.0] * 3] * 2] * 4
    assert 1 <= len(calls) < 4  # recorded calls only; replays run the graph


def test_gradient_hooks_ops_are_recorded_into_a_traced_step_and_replayed():
    layer = U.nn.Linear(2, 3)
    calls = []

    def double(g):
        calls.append(1)
        return g * 2.0

    layer.weight.register_hook(double)

    @U.trace
    def step(x):
        layer.zero_grad()
        loss = layer(x).sum()
        loss.backward()
        return loss

    for value in (1.0, 2.0, 3.0, 4.0):
        step(U.full((4, 2), value))
        # eager: d sum(x W^T + b) / dW = column sums of x = 4 * value; the hook doubles it
        assert layer.weight.grad.tolist() == [[8.0 * value] * 2] * 3
    assert 1 <= len(calls) < 4  # the Python side effect happens only while recording
