"""GPU implementations of the random ops (unified/ops/random.py): the same counter-based
Philox4x32-10 stream as core_cpp/kernels/random.cpp, vectorized over blocks with xp (uint64
products for the 32x32->64 multiplies), so a seed gives the same numbers on the GPU as on the
CPU: randint and bernoulli bit for bit, uniform to one float32 rounding (the C++ compiler may
fuse low + span * u into an FMA), normal to float32 rounding of log/sin/cos.
The generator state (seed, offset) is read on the host (host_inputs).

Algorithm: element i of the output (row-major) reads word i % per_block of Philox block
offset + i // per_block (4 words per block: 4 uniforms or 2 Box-Muller pairs; 2 words per
randint value). Limits: randint spans above 2^32 use 64-bit products of the high and low words
in float64 on the GPU path only when span > 2^32 (exact below)."""

from __future__ import annotations

import math

import numpy as np

from unified.ops.gpu._table import gpu, host

_U32 = np.uint64(0xFFFFFFFF)
_INV_2POW24 = np.float32(1.0 / 16777216.0)
_TWO_PI = np.float32(6.283185307179586)


def philox_blocks(xp, blocks, seed: int):
    """Philox4x32-10 of counters (block, 0) with key `seed`: four uint64 arrays of 32-bit words."""
    c0 = blocks & _U32
    c1 = blocks >> np.uint64(32)
    c2 = xp.zeros_like(c0)
    c3 = xp.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    for rnd in range(10):
        if rnd > 0:
            k0 = np.uint64((int(k0) + 0x9E3779B9) & 0xFFFFFFFF)
            k1 = np.uint64((int(k1) + 0xBB67AE85) & 0xFFFFFFFF)
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ k0
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ k1
        c1, c3 = p1 & _U32, p0 & _U32
        c0, c2 = n0, n2
    return c0, c1, c2, c3


def _words(xp, state, count: int, per_block: int):
    """(words per block as a (blocks, 4) uint64 array, the first block index) for `count`
    outputs starting at the state's offset."""
    seed, offset = (int(v) & 0xFFFFFFFFFFFFFFFF for v in host(state).astype(np.int64))
    blocks = -(-count // per_block)
    counters = xp.arange(blocks, dtype=np.uint64) + np.uint64(offset)
    return xp.stack(philox_blocks(xp, counters, seed), axis=1)


def _unit(words):
    return (words >> np.uint64(8)).astype(np.float32) * _INV_2POW24


def _uniform_words(xp, state, shape):
    n = math.prod(shape)
    return _unit(_words(xp, state, n, 4)).reshape(-1)[:n].reshape(shape)


@gpu("uniform", host_inputs=(-1,))
def uniform(xp, state, size, low, high):
    low32, high32 = np.float32(low), np.float32(high)
    span = high32 - low32
    below = np.nextafter(high32, low32) if low32 < high32 else high32
    return xp.minimum(low32 + span * _uniform_words(xp, state, tuple(size)), below)


@gpu("normal", host_inputs=(-1,))
def normal(xp, state, size, mean, std):
    n = math.prod(size)
    w = _words(xp, state, n, 4)
    u1 = ((w[:, 0::2] >> np.uint64(8)) + np.uint64(1)).astype(np.float32) * _INV_2POW24
    theta = _TWO_PI * _unit(w[:, 1::2])
    r = xp.sqrt(np.float32(-2.0) * xp.log(u1))
    pairs = xp.stack([r * xp.cos(theta), r * xp.sin(theta)], axis=2).reshape(-1)[:n]
    return (np.float32(mean) + np.float32(std) * pairs).reshape(tuple(size))


@gpu("randint", host_inputs=(-1,))
def randint(xp, state, size, low, high, dtype):
    n = math.prod(size)
    w = _words(xp, state, n, 2)
    lo_words, hi_words = w[:, 0::2].reshape(-1)[:n], w[:, 1::2].reshape(-1)[:n]
    span = int(high) - int(low)
    # floor(bits * span / 2^64) with bits = hi * 2^32 + lo, exactly, for span < 2^32
    if span < (1 << 32):
        s = np.uint64(span)
        high_part = hi_words * s
        low_part = (lo_words * s) >> np.uint64(32)
        scaled = (high_part + low_part) >> np.uint64(32)
    else:  # pragma: no cover - spans this wide are not in the op table
        bits = hi_words.astype(np.float64) * 4294967296.0 + lo_words.astype(np.float64)
        scaled = (bits / 18446744073709551616.0 * span).astype(np.uint64)
    values = scaled.astype(np.int64) + np.int64(low)
    return values.astype(np.dtype(dtype)).reshape(tuple(size))


@gpu("bernoulli", host_inputs=(-1,))
def bernoulli(xp, p, state, size):
    if p.size and not bool(xp.all(xp.logical_and(p >= 0.0, p <= 1.0))):
        bad = host(p[~xp.logical_and(p >= 0.0, p <= 1.0)].ravel()[:1])[0]
        raise ValueError(f"bernoulli: probabilities must be in [0, 1], got {bad}")
    u = _uniform_words(xp, state, tuple(size))
    return (u < p).astype(np.float32)
