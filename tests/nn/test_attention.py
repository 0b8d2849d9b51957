"""nn.MultiheadAttention and F.scaled_dot_product_attention against a NumPy implementation of
the same math: layouts (batch_first, unbatched), masks (bool, float, key padding, causal),
kdim/vdim, per-head weights, in-projection gradients by finite differences, and init."""

import numpy as np
import pytest

import unified as U
from tests.nn.numeric import numeric_grad, weighted_backward
from unified import nn


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mha_ref(q_in, k_in, v_in, p, heads, mask=None):
    """Batch-first reference; mask is additive, broadcast to (N, H, L, S)."""
    n, length, e = q_in.shape
    d = e // heads
    q = q_in @ p["wq"].T + p["bq"]
    k = k_in @ p["wk"].T + p["bk"]
    v = v_in @ p["wv"].T + p["bv"]
    split = lambda x: x.reshape(n, x.shape[1], heads, d).transpose(0, 2, 1, 3)  # noqa: E731
    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(d)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    out = (weights @ split(v)).transpose(0, 2, 1, 3).reshape(n, length, e)
    return out @ p["wo"].T + p["bo"], weights


def params_of(mha):
    e = mha.embed_dim
    bias = mha.in_proj_bias.detach().numpy().astype(np.float64)
    if mha._qkv_same_embed_dim:
        w = mha.in_proj_weight.detach().numpy().astype(np.float64)
        wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
    else:
        wq, wk, wv = (t.detach().numpy().astype(np.float64)
                      for t in (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight))
    return {"wq": wq, "wk": wk, "wv": wv, "bq": bias[:e], "bk": bias[e:2 * e],
            "bv": bias[2 * e:], "wo": mha.out_proj.weight.detach().numpy().astype(np.float64),
            "bo": mha.out_proj.bias.detach().numpy().astype(np.float64)}


def randomize_biases(mha, rng):
    with U.no_grad():
        mha.in_proj_bias.copy_(U.tensor(rng.standard_normal(mha.in_proj_bias.shape)))
        mha.out_proj.bias.copy_(U.tensor(rng.standard_normal(mha.out_proj.bias.shape)))


def test_mha_batch_first_matches_numpy(rng):
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    randomize_biases(mha, rng)
    q, k, v = (rng.standard_normal((3, n, 8)).astype(np.float32) for n in (4, 5, 5))
    out, weights = mha(U.tensor(q), U.tensor(k), U.tensor(v))
    ref_out, ref_w = mha_ref(q, k, v, params_of(mha), 2)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w.mean(1), rtol=1e-4, atol=1e-5)
    _, per_head = mha(U.tensor(q), U.tensor(k), U.tensor(v), average_attn_weights=False)
    np.testing.assert_allclose(per_head.detach().numpy(), ref_w, rtol=1e-4, atol=1e-5)


def test_mha_sequence_first_and_unbatched_layouts(rng):
    mha = nn.MultiheadAttention(6, 3)
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)  # (N, L, E)
    ref_out, _ = mha_ref(x, x, x, params_of(mha), 3)
    xs = U.tensor(x.transpose(1, 0, 2))  # (L, N, E)
    out, _ = mha(xs, xs, xs)
    np.testing.assert_allclose(out.detach().numpy(), ref_out.transpose(1, 0, 2), rtol=1e-4,
                               atol=1e-5)
    single, w_single = mha(U.tensor(x[0]), U.tensor(x[0]), U.tensor(x[0]), need_weights=True)
    np.testing.assert_allclose(single.detach().numpy(), ref_out[0], rtol=1e-4, atol=1e-5)
    assert w_single.shape == (4, 4)
    assert mha(xs, xs, xs, need_weights=False)[1] is None


def test_mha_masks_match_numpy(rng):
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    p = params_of(mha)
    padding = np.array([[False, False, True], [False, False, False]])
    causal = np.triu(np.ones((3, 3), bool), 1)
    additive = rng.standard_normal((3, 3)).astype(np.float32)
    cases = [
        (dict(key_padding_mask=U.tensor(padding)),
         np.where(padding, -np.inf, 0.0)[:, None, None, :]),
        (dict(attn_mask=U.tensor(causal)), np.where(causal, -np.inf, 0.0)),
        (dict(is_causal=True), np.where(causal, -np.inf, 0.0)),
        (dict(attn_mask=U.tensor(additive), key_padding_mask=U.tensor(padding)),
         additive + np.where(padding, -np.inf, 0.0)[:, None, None, :]),
        (dict(attn_mask=U.tensor(np.tile(causal, (4, 1, 1)))), np.where(causal, -np.inf, 0.0)),
    ]
    for kwargs, mask in cases:
        out, weights = mha(U.tensor(x), U.tensor(x), U.tensor(x), **kwargs)
        ref_out, ref_w = mha_ref(x, x, x, p, 2, mask)
        np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(weights.detach().numpy(), ref_w.mean(1), rtol=1e-4,
                                   atol=1e-5)


def test_mha_with_kdim_vdim_uses_separate_projections(rng):
    mha = nn.MultiheadAttention(4, 1, kdim=3, vdim=5, batch_first=True)
    assert mha.in_proj_weight is None and mha.k_proj_weight.shape == (4, 3)
    q = rng.standard_normal((2, 2, 4)).astype(np.float32)
    k = rng.standard_normal((2, 3, 3)).astype(np.float32)
    v = rng.standard_normal((2, 3, 5)).astype(np.float32)
    out, _ = mha(U.tensor(q), U.tensor(k), U.tensor(v))
    np.testing.assert_allclose(out.detach().numpy(), mha_ref(q, k, v, params_of(mha), 1)[0],
                               rtol=1e-4, atol=1e-5)


def test_mha_in_projection_gradient_by_finite_differences(rng):
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    p = params_of(mha)
    w_out = rng.standard_normal((2, 3, 4))
    weighted_backward(mha(U.tensor(x), U.tensor(x), U.tensor(x))[0], w_out)

    def objective(w):
        q = dict(p, wq=w[:4], wk=w[4:8], wv=w[8:])
        return np.sum(mha_ref(x, x, x, q, 2)[0] * w_out)

    expected = numeric_grad(objective, np.concatenate([p["wq"], p["wk"], p["wv"]]))
    np.testing.assert_allclose(mha.in_proj_weight.grad.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_mha_init_and_errors():
    mha = nn.MultiheadAttention(8, 4)
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias",
                                                      "out_proj.weight", "out_proj.bias"]
    assert mha.in_proj_bias.tolist() == [0.0] * 24 and mha.out_proj.bias.tolist() == [0.0] * 8
    bound = np.sqrt(6 / (8 + 24))  # xavier_uniform_ over the (24, 8) packed weight
    assert np.abs(mha.in_proj_weight.detach().numpy()).max() <= bound
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(U.ShapeError, match="query must be 2-D or 3-D with last dim 8"):
        mha(U.ones(2, 3, 7), U.ones(2, 3, 8), U.ones(2, 3, 8))
    with pytest.raises(U.ShapeError, match="key_padding_mask must have shape"):
        mha(U.ones(3, 2, 8), U.ones(3, 2, 8), U.ones(3, 2, 8), key_padding_mask=U.ones(3, 2))


def test_scaled_dot_product_attention_bool_mask_marks_allowed_positions(rng):
    q, k, v = (rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(3))
    allowed = np.array([[True, False, True]] * 3)
    out = U.nn.functional.scaled_dot_product_attention(U.tensor(q), U.tensor(k), U.tensor(v),
                                                       attn_mask=U.tensor(allowed))
    scores = q @ k.transpose(0, 2, 1) / 2.0 + np.where(allowed, 0.0, -np.inf)
    np.testing.assert_allclose(out.numpy(), softmax(scores) @ v, rtol=1e-5, atol=1e-6)
