"""The autograd and optimizer hooks DataParallel is built on (unified/autograd.py,
unified/tensor.py, unified/optim/optimizer.py): Tensor.register_post_accumulate_grad_hook runs
once per backward after a leaf's last gradient contribution, autograd.queue_callback runs at the
end of the backward, and Optimizer step pre/post hooks run around every optimizer's step."""

import pytest

import unified as U
from unified.autograd import queue_callback


def test_post_accumulate_hook_runs_once_after_every_contribution():
    w = U.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    ((w * w).sum() + (w * 3.0).sum()).backward()  # two edges into w
    assert seen == [[5.0, 7.0]]
    (w * w).sum().backward()  # accumulated: the hook sees the sum
    assert seen == [[5.0, 7.0], [7.0, 11.0]]
    handle.remove()
    (w * w).sum().backward()
    assert len(seen) == 2


def test_post_accumulate_hook_is_not_run_by_autograd_grad():
    w = U.tensor([1.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(seen.append)
    U.autograd.grad((w * 2.0).sum(), [w])
    assert seen == [] and w.grad is None


def test_post_accumulate_hook_needs_a_leaf_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        U.ones(2).register_post_accumulate_grad_hook(print)
    w = U.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors"):
        (w * 2.0).register_post_accumulate_grad_hook(print)


def test_queue_callback_runs_after_every_hook_of_the_backward():
    a, b = U.tensor([1.0], requires_grad=True), U.tensor([2.0], requires_grad=True)
    order = []

    def hook(t):
        order.append(("hook", t.item()))
        if len(order) == 1:
            queue_callback(lambda: order.append(("end", a.grad.item(), b.grad.item())))

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    (a * b).sum().backward()
    assert sorted(order[:2]) == [("hook", 1.0), ("hook", 2.0)]
    assert order[2] == ("end", 2.0, 1.0)
    with pytest.raises(RuntimeError, match="no backward is running"):
        queue_callback(print)


@pytest.mark.parametrize("make", [lambda p: U.optim.SGD(p, lr=0.5),
                                  lambda p: U.optim.AdamW(p, lr=0.5)])
def test_step_hooks_run_around_every_optimizer_step(make):
    w = U.tensor([1.0, 2.0], requires_grad=True)
    opt = make([w])
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", w.tolist())))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o is opt)))
    (w * w).sum().backward()
    opt.step()
    assert calls[0] == ("pre", [1.0, 2.0]) and calls[1] == ("post", True)
    pre.remove()
    opt.step()
    assert [c[0] for c in calls] == ["pre", "post", "post"]
