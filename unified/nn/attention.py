"""nn.MultiheadAttention with torch.nn's parameters (in_proj_weight/in_proj_bias, or separate
q/k/v projections when kdim/vdim differ; out_proj), init and masks (bool True = masked out, or
float added). Composed from registered ops via F.linear and functional/attention.py's `attend`."""

from __future__ import annotations

from unified import functional as F
from unified.creation import empty
from unified.errors import ShapeError, fmt_shape
from unified.functional.attention import attend, causal_mask
from unified.nn import init
from unified.nn.linear import Linear
from unified.nn.module import Module
from unified.nn.parameter import Parameter
from unified.tensor import Tensor


class MultiheadAttention(Module):
    """Attention over num_heads subspaces of embed_dim; returns (output, weights or None).
    Differences from PyTorch: add_bias_kv and add_zero_attn are not supported.

    >>> import unified as U
    >>> mha = U.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> out, weights = mha(U.ones(3, 5, 8), U.ones(3, 6, 8), U.ones(3, 6, 8))
    >>> out.shape, weights.shape
    ((3, 5, 8), (3, 5, 6))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are "
                                      "not supported")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        e = self.embed_dim
        biases = (None, None, None) if self.in_proj_bias is None else (
            self.in_proj_bias[:e], self.in_proj_bias[e:2 * e], self.in_proj_bias[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, x, dim in (("query", query, self.embed_dim), ("key", key, self.kdim),
                             ("value", value, self.vdim)):
            if x.ndim not in (2, 3) or x.shape[-1] != dim:
                raise ShapeError(f"{self._get_name()}(embed_dim={self.embed_dim}, num_heads="
                                 f"{self.num_heads}): {name} must be 2-D or 3-D with last dim "
                                 f"{dim}, got shape {fmt_shape(x.shape)}")
        if not query.ndim == key.ndim == value.ndim or key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"{self._get_name()}: key {fmt_shape(key.shape)} and value "
                             f"{fmt_shape(value.shape)} must agree in all but the last dim, "
                             f"and query {fmt_shape(query.shape)} must have their rank")

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        self._check(query, key, value)
        unbatched = query.ndim == 2
        if unbatched:  # (L, E) -> a batch of one
            query, key, value = (x.unsqueeze(0 if self.batch_first else 1)
                                 for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        n, tgt_len, src_len = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = self._project(query, key, value)
        q, k, v = (x.reshape(n, x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)
                   for x in (q, k, v))  # (N, H, L, D)
        masks = _masks(attn_mask, key_padding_mask, is_causal, n, self.num_heads, tgt_len,
                       src_len)
        out, weights = attend(q, k, v, *masks, self.dropout, self.training)
        out = self.out_proj(out.transpose(1, 2).reshape(n, tgt_len, self.embed_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)
        return out, (weights.squeeze(0) if unbatched else weights)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _masks(attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool, n: int,
           heads: int, tgt_len: int, src_len: int) -> tuple[Tensor | None, Tensor | None]:
    """(blocked bool mask, additive float mask), each broadcastable to (N, H, L, S)."""
    if is_causal and attn_mask is None:
        attn_mask = causal_mask(tgt_len, src_len)
    blocked, additive = [], []
    if attn_mask is not None:
        expected = ((tgt_len, src_len), (n * heads, tgt_len, src_len))
        if tuple(attn_mask.shape) not in expected:
            raise ShapeError(f"MultiheadAttention: attn_mask must have shape {expected[0]} or "
                             f"{expected[1]}, got {fmt_shape(attn_mask.shape)}")
        if attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape(n, heads, tgt_len, src_len)
        (blocked if attn_mask.dtype.kind == "b" else additive).append(attn_mask)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (n, src_len):
            raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape "
                             f"{(n, src_len)}, got {fmt_shape(key_padding_mask.shape)}")
        mask = key_padding_mask.reshape(n, 1, 1, src_len)
        (blocked if mask.dtype.kind == "b" else additive).append(mask)
    combined_blocked = blocked[0] if len(blocked) == 1 else (
        None if not blocked else F.where(blocked[0], True, blocked[1]))
    combined_additive = additive[0] if len(additive) == 1 else (
        None if not additive else additive[0] + additive[1])
    return combined_blocked, combined_additive
