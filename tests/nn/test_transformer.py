"""TransformerEncoderLayer (post-norm and norm_first, relu/gelu) against a NumPy reference in
eval mode, dropout active in training, and TransformerEncoder stacking independent copies."""

import numpy as np
import pytest

import unified as U
from tests.nn.test_attention import mha_ref, params_of
from unified import nn


def layer_norm(x, w, b, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def numpy_params(module):
    return {n: p.detach().numpy().astype(np.float64) for n, p in module.named_parameters()}


def encoder_ref(x, layer, act):
    p = numpy_params(layer)
    attn = lambda h: mha_ref(h, h, h, params_of(layer.self_attn), 2)[0]  # noqa: E731
    ff = lambda h: act(h @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T \
        + p["linear2.bias"]  # noqa: E731
    n1 = lambda h: layer_norm(h, p["norm1.weight"], p["norm1.bias"])  # noqa: E731
    n2 = lambda h: layer_norm(h, p["norm2.weight"], p["norm2.bias"])  # noqa: E731
    if layer.norm_first:
        x = x + attn(n1(x))
        return x + ff(n2(x))
    x = n1(x + attn(x))
    return n2(x + ff(x))


@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_encoder_layer_matches_numpy_in_eval_mode(rng, norm_first, activation):
    from math import erf
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True,
                                       norm_first=norm_first, activation=activation).eval()
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    act = (lambda h: np.maximum(h, 0)) if activation == "relu" else \
        np.vectorize(lambda h: 0.5 * h * (1 + erf(h / np.sqrt(2))))
    np.testing.assert_allclose(layer(U.tensor(x)).detach().numpy(), encoder_ref(x, layer, act),
                               rtol=1e-4, atol=1e-4)


def test_encoder_layer_sequence_first_training_uses_dropout_and_trains(rng):
    layer = nn.TransformerEncoderLayer(4, 1, dim_feedforward=8, dropout=0.5)
    x = U.tensor(rng.standard_normal((3, 2, 4)).astype(np.float32))  # (L, N, E)
    U.manual_seed(0)
    first = layer(x)
    U.manual_seed(1)
    assert not np.allclose(first.detach().numpy(), layer(x).detach().numpy())
    first.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def test_encoder_stacks_independent_copies():
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=3, norm=nn.LayerNorm(4))
    assert len(encoder.layers) == 3 and encoder.layers[0].linear1 is not encoder.layers[1].linear1
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters())) + 2
    mask = U.tensor([[False, False, True]])
    assert encoder(U.ones(1, 3, 4), src_key_padding_mask=mask).shape == (1, 3, 4)
    with pytest.raises(ValueError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
