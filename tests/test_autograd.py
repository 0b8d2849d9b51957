"""Autograd engine: chain rule, accumulation, graph reuse, in-place version checks, grad modes,
higher-order gradients — each against hand-computed values."""

import numpy as np
import pytest

import unified as U


def t(values, grad=False):
    return U.tensor(np.asarray(values, np.float32), requires_grad=grad)


def test_chain_rule_through_mul_add_exp():
    x = t([0.5, -1.0], grad=True)
    w = t([2.0, 3.0], grad=True)
    y = U.exp(x * w + 1.0)  # dy/dx = w e^(xw+1), dy/dw = x e^(xw+1)
    y.backward(U.ones(2))
    e = np.exp(np.array([0.5 * 2 + 1, -1.0 * 3 + 1]))
    np.testing.assert_allclose(x.grad.numpy(), [2 * e[0], 3 * e[1]], rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), [0.5 * e[0], -1.0 * e[1]], rtol=1e-6)


def test_diamond_graph_sums_both_paths():
    x = t([3.0], grad=True)
    y = x * x + x  # 2x + 1 = 7
    y.backward(U.ones(1))
    assert x.grad.tolist() == [7.0]


def test_gradients_accumulate_across_backward_calls():
    x = t([1.0, 2.0], grad=True)
    (x * 3.0).backward(U.ones(2))
    (x * 3.0).backward(U.ones(2))
    assert x.grad.tolist() == [6.0, 6.0]


def test_broadcast_gradient_is_summed_to_input_shape():
    a = t(np.ones((2, 3)), grad=True)
    b = t([1.0, 2.0, 3.0], grad=True)
    (a * b).backward(U.ones(2, 3))
    assert b.grad.tolist() == [2.0, 2.0, 2.0]
    assert a.grad.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


def test_second_backward_without_retain_graph_fails():
    x = t([1.0], grad=True)
    y = x * x
    y.backward(U.ones(1), retain_graph=True)
    y.backward(U.ones(1))
    assert x.grad.tolist() == [4.0]
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(U.ones(1))


def test_nonscalar_backward_needs_gradient():
    x = t([1.0, 2.0], grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2.0).backward()


def test_no_grad_records_nothing_and_enable_grad_inside_restores():
    x = t([1.0], grad=True)
    with U.no_grad():
        y = x * 2.0
        with U.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_as_decorator():
    x = t([1.0], grad=True)

    @U.no_grad()
    def f(v):
        return v * 2.0

    assert not f(x).requires_grad
    assert U.is_grad_enabled()


def test_detach_shares_data_but_not_history():
    x = t([1.0, 2.0], grad=True)
    y = (x * 2.0).detach()
    assert not y.requires_grad
    assert np.shares_memory(y.numpy(), y.numpy())


def test_inplace_on_nonleaf_gives_correct_gradient():
    x = t([1.0, 2.0], grad=True)
    z = x * 2.0
    z.mul_(3.0)
    z.add_(1.0)
    z.backward(U.ones(2))
    assert x.grad.tolist() == [6.0, 6.0]
    assert z.tolist() == [7.0, 13.0]


def test_inplace_after_save_is_detected():
    x = t([1.0, 2.0], grad=True)
    y = U.exp(x)  # exp saves its output for backward
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward(U.ones(2))


def test_inplace_on_saved_input_is_detected():
    x = t([1.0, 2.0], grad=True)
    a = x * 1.0
    y = a * a  # mul saves its inputs
    a.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward(U.ones(2))


def test_inplace_on_leaf_requiring_grad_fails_but_works_under_no_grad():
    x = t([1.0], grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        x.add_(1.0)
    with U.no_grad():
        x.add_(1.0)
    assert x.tolist() == [2.0]


def test_version_counter_increments_on_inplace():
    x = t([1.0])
    v0 = x._version
    x.add_(1.0)
    x.mul_(2.0)
    assert x._version == v0 + 2


def test_autograd_grad_second_derivative():
    x = t([2.0, -1.0], grad=True)
    y = x * x * x
    (g,) = U.autograd.grad(y, [x], grad_outputs=U.ones(2), create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [12.0, 3.0])
    (h,) = U.autograd.grad(g, [x], grad_outputs=U.ones(2))
    np.testing.assert_allclose(h.numpy(), [12.0, -6.0])
    assert x.grad is None  # grad() does not accumulate


def test_autograd_grad_unused_input():
    x = t([1.0], grad=True)
    z = t([1.0], grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        U.autograd.grad(x * 2.0, [z], grad_outputs=U.ones(1))
    (g,) = U.autograd.grad(x * 2.0, [z], grad_outputs=U.ones(1), allow_unused=True)
    assert g is None


def test_retain_grad_on_intermediate():
    x = t([1.0, 2.0], grad=True)
    y = x * 3.0
    y.retain_grad()
    (y * y).backward(U.ones(2))
    assert y.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_leaf_grad_is_a_fresh_tensor_not_an_alias():
    a = t([1.0], grad=True)
    b = t([1.0], grad=True)
    g = U.ones(1)
    (a + b).backward(g)
    a.grad.mul_(5.0)
    assert b.grad.tolist() == [1.0]
    assert g.tolist() == [1.0]


def test_int_tensor_cannot_require_grad():
    with pytest.raises(U.DTypeError, match="float32"):
        U.tensor([1, 2], requires_grad=True)


def test_int_results_do_not_require_grad():
    x = t([1.0, 2.0], grad=True)
    assert not (x > 1.0).requires_grad
