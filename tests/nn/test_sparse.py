"""nn.Embedding: lookup against NumPy indexing, N(0, 1) init, padding_idx (zero row, no
gradient), scatter-added gradients, and from_pretrained."""

import numpy as np
import pytest

import unified as U
from unified import nn


def test_embedding_lookup_and_gradient_accumulates_repeats():
    emb = nn.Embedding(5, 3)
    idx = np.array([[0, 2, 2], [4, 0, 1]])
    out = emb(U.tensor(idx))
    weight = emb.weight.detach().numpy()
    np.testing.assert_array_equal(out.detach().numpy(), weight[idx])
    w_out = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    (out * U.tensor(w_out)).sum().backward()
    expected = np.zeros((5, 3), np.float32)
    np.add.at(expected, idx, w_out)
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected)


def test_embedding_padding_idx_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(4, 2, padding_idx=-1)
    assert emb.padding_idx == 3 and emb.weight[3].tolist() == [0.0, 0.0]
    emb(U.tensor([3, 1, 3])).sum().backward()
    assert emb.weight.grad.numpy()[3].tolist() == [0.0, 0.0]
    assert emb.weight.grad.numpy()[1].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="padding_idx 4 must be within"):
        nn.Embedding(4, 2, padding_idx=4)


def test_embedding_init_is_standard_normal():
    U.manual_seed(0)
    weight = nn.Embedding(1000, 50).weight.detach().numpy()
    assert abs(weight.mean()) < 0.01 and abs(weight.std() - 1) < 0.01


def test_from_pretrained_is_frozen_by_default():
    table = U.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb(U.tensor([1])).tolist() == [[3.0, 4.0]]
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
