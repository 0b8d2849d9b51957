"""Attention with torch.nn.functional's name: scaled_dot_product_attention, composed of
matmul, masked_fill/add, softmax and dropout ops (no fused kernel). nn.MultiheadAttention
(unified/nn/attention.py) shares `attend`, which also returns the attention weights."""

from __future__ import annotations

import math

from unified.creation import arange
from unified.functional.indexing import masked_fill
from unified.functional.linalg import matmul
from unified.functional.norm import softmax
from unified.functional.random import dropout
from unified.tensor import Tensor

__all__ = ["scaled_dot_product_attention"]


def causal_mask(target_len: int, source_len: int) -> Tensor:
    """A (L, S) bool mask, True above the diagonal (the positions a query may not see)."""
    return arange(target_len).unsqueeze(1) < arange(source_len).unsqueeze(0)


def attend(query: Tensor, key: Tensor, value: Tensor, blocked: Tensor | None = None,
           additive: Tensor | None = None, dropout_p: float = 0.0, training: bool = True,
           scale: float | None = None) -> tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + additive, blocked positions -> -inf) @ v, and the weights.
    `blocked` is a bool mask (True = masked out) and `additive` a float mask; both broadcast
    against the (..., L, S) scores."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = matmul(query * scale, key.transpose(-2, -1))
    if additive is not None:
        scores = scores + additive
    if blocked is not None:
        scores = masked_fill(scores, blocked, float("-inf"))
    weights = softmax(scores, -1)
    if dropout_p > 0.0 and training:
        weights = dropout(weights, dropout_p, True)
    return matmul(weights, value), weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(query @ key^T / sqrt(E) + mask) @ value over (..., L, E) / (..., S, E) inputs.
    A bool attn_mask marks with True the positions that TAKE PART (PyTorch's convention here,
    the opposite of nn.MultiheadAttention's); a float mask is added to the scores.

    >>> import unified as U, unified.functional as F
    >>> q = k = v = U.ones(1, 2, 4)
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (1, 2, 4)
    """
    blocked = additive = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or "
                             "is_causal=True, not both")
        blocked = causal_mask(query.shape[-2], key.shape[-2])
    elif attn_mask is not None:
        if attn_mask.dtype.kind == "b":
            blocked = attn_mask == False  # noqa: E712  (elementwise not)
        else:
            additive = attn_mask
    return attend(query, key, value, blocked, additive, dropout_p, True, scale)[0]
