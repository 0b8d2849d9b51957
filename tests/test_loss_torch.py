"""Where PyTorch is installed: our losses and their input gradients equal torch.nn.functional's
on the same inputs (skipped when torch is missing)."""

import numpy as np
import pytest

import unified as U
import unified.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(7)
X = rng.normal(size=(6, 4, 3)).astype(np.float32)
T = rng.integers(0, 4, size=(6, 3))
T[1, 2] = T[4, 0] = -100
W = np.array([0.5, 1.0, 2.0, 1.5], np.float32)
P = rng.dirichlet(np.ones(4), size=(6, 3)).transpose(0, 2, 1).astype(np.float32).copy()
Y = rng.uniform(size=(6, 4, 3)).astype(np.float32)

CASES = {
    "ce": ("cross_entropy", lambda lib, t: (t(T),), {}),
    "ce_weight_smooth": ("cross_entropy", lambda lib, t: (t(T),),
                         {"label_smoothing": 0.15, "weight": W}),
    "ce_probs": ("cross_entropy", lambda lib, t: (t(P),), {"label_smoothing": 0.1, "weight": W}),
    "nll": ("nll_loss", lambda lib, t: (t(T),), {"weight": W}),
    "bce_logits": ("binary_cross_entropy_with_logits", lambda lib, t: (t(Y),),
                   {"pos_weight": np.ones((4, 1), np.float32) * 2}),
    "mse": ("mse_loss", lambda lib, t: (t(Y),), {}),
    "l1": ("l1_loss", lambda lib, t: (t(Y),), {}),
    "smooth_l1": ("smooth_l1_loss", lambda lib, t: (t(Y),), {"beta": 0.5}),
}


def _run(lib, fn, name, make_args, kwargs, reduction):
    t = torch.tensor if lib is torch else U.tensor
    x = t(X, requires_grad=True)
    kwargs = {k: t(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out = getattr(fn, name)(x, *make_args(lib, t), reduction=reduction, **kwargs)
    out.sum().backward() if reduction == "none" else out.backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_matches_torch(case, reduction):
    name, make_args, kwargs = CASES[case]
    ours = _run(U, F, name, make_args, kwargs, reduction)
    theirs = _run(torch, TF, name, make_args, kwargs, reduction)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
