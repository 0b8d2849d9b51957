"""Op table rows for unified/ops/random.py: seeded samples compared with a NumPy Philox4x32-10
reference (checked against the Random123 known-answer vectors in tests/test_random.py), so the
rows pin the exact stream: normal, uniform, randint, bernoulli, the in-place fills on strided
views, dropout and randperm."""

import numpy as np

import unified as U
import unified.functional as F
from tests.op_cases import Arg, OpCase

_MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key) -> np.ndarray:
    """Philox4x32-10 on counters (4, n) uint32-valued and key (k0, k1) -> (4, n) uint64 words."""
    c0, c1, c2, c3 = (np.asarray(w, np.uint64) for w in counter)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for round_ in range(10):
        if round_:
            k0 = (k0 + np.uint64(0x9E3779B9)) & _MASK
            k1 = (k1 + np.uint64(0xBB67AE85)) & _MASK
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK, \
            (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK
    return np.stack([c0, c1, c2, c3])


def stream_words(seed: int, offset: int, blocks: int) -> np.ndarray:
    """(blocks, 4) words of blocks offset, offset+1, ... (counter = block lo, hi, 0, 0)."""
    seed %= 1 << 64
    block = np.arange(offset, offset + blocks, dtype=np.uint64)
    zeros = np.zeros_like(block)
    words = philox4x32_10((block & _MASK, block >> np.uint64(32), zeros, zeros),
                          (seed & 0xFFFFFFFF, seed >> 32))
    return words.T


def ref_uniform(seed: int, offset: int, shape, low=0.0, high=1.0) -> np.ndarray:
    n = int(np.prod(shape))
    words = stream_words(seed, offset, -(-n // 4)).reshape(-1)[:n]
    return (low + (high - low) * (words >> np.uint64(8)).astype(np.float64) / 2**24).reshape(shape)


def ref_normal(seed: int, offset: int, shape, mean=0.0, std=1.0) -> np.ndarray:
    n = int(np.prod(shape))
    w = stream_words(seed, offset, -(-n // 4)).astype(np.float64)
    values = []
    for pair in (0, 1):
        u1 = (np.floor(w[:, 2 * pair] / 256) + 1) / 2**24
        theta = 2 * np.pi * np.floor(w[:, 2 * pair + 1] / 256) / 2**24
        r = np.sqrt(-2 * np.log(u1))
        values += [r * np.cos(theta), r * np.sin(theta)]
    z = np.stack(values, axis=1).reshape(-1)[:n]
    return (mean + std * z).reshape(shape)


def ref_randint(seed: int, offset: int, shape, low: int, high: int) -> np.ndarray:
    n = int(np.prod(shape))
    words = stream_words(seed, offset, -(-n // 2)).reshape(-1).tolist()
    bits = [words[2 * i] | (words[2 * i + 1] << 32) for i in range(n)]
    return np.array([low + ((b * (high - low)) >> 64) for b in bits], np.int64).reshape(shape)


def _gen(seed: int) -> U.Generator:
    return U.Generator().manual_seed(seed)


def _fill_strided(fill, *args):
    def run():
        t = U.zeros(4, 6)[:, ::2]
        fill(t, *args, generator=_gen(5))
        return t
    return run


def _seeded_default(seed: int, fn):
    def run(*tensors):
        with U.random.fork_rng():
            U.manual_seed(seed)
            return fn(*tensors)
    return run


def _dropout_ref(seed: int, p: float, mask_shape):
    def ref(x):
        keep = ref_uniform(seed, 0, mask_shape) < np.float32(1.0 - p)
        return x * keep / (1.0 - p)
    return ref


NORMAL_TOL = dict(rtol=1e-4, atol=2e-5)
CASES = [
    OpCase("randn_seeded", lambda: U.randn(3, 5, generator=_gen(7)),
           lambda: ref_normal(7, 0, (3, 5)), (), grad=False, **NORMAL_TOL),
    OpCase("randn_partial_block", lambda: U.randn(7, generator=_gen(2**40 + 3)),
           lambda: ref_normal(2**40 + 3, 0, (7,)), (), grad=False, **NORMAL_TOL),
    OpCase("randn_negative_seed", lambda: U.randn(2, 2, generator=_gen(-5)),
           lambda: ref_normal(-5, 0, (2, 2)), (), grad=False, **NORMAL_TOL),
    OpCase("randn_empty", lambda: U.randn(0, 3), lambda: np.zeros((0, 3)), (), grad=False),
    OpCase("normal_mean_std", lambda: U.normal(2.0, 0.5, (4, 3), generator=_gen(1)),
           lambda: ref_normal(1, 0, (4, 3), 2.0, 0.5), (), grad=False, **NORMAL_TOL),
    OpCase("normal_inplace_transposed",
           _seeded_default(17, lambda: U.zeros(5, 4).T.normal_(1.0, 2.0)),
           lambda: ref_normal(17, 0, (4, 5), 1.0, 2.0), (), grad=False, **NORMAL_TOL),
    OpCase("rand_seeded", lambda: U.rand(2, 3, 3, generator=_gen(9)),
           lambda: ref_uniform(9, 0, (2, 3, 3)), (), grad=False),
    OpCase("uniform_inplace_strided", _fill_strided(F.uniform_, -1.0, 2.0),
           lambda: ref_uniform(5, 0, (4, 3), -1.0, 2.0), (), grad=False),
    OpCase("normal_inplace_strided", _fill_strided(F.normal_, 0.5, 3.0),
           lambda: ref_normal(5, 0, (4, 3), 0.5, 3.0), (), grad=False, **NORMAL_TOL),
    OpCase("randint_seeded", lambda: U.randint(-3, 9, (5, 4), generator=_gen(3)),
           lambda: ref_randint(3, 0, (5, 4), -3, 9), (), grad=False, exact=True),
    OpCase("randint_int32_high_only", lambda: U.randint(6, (9,), generator=_gen(4),
                                                        dtype=U.int32),
           lambda: ref_randint(4, 0, (9,), 0, 6).astype(np.int32), (), grad=False, exact=True),
    OpCase("randint_float_output", lambda: U.randint(0, 100, (3,), generator=_gen(4),
                                                     dtype=U.float32),
           lambda: ref_randint(4, 0, (3,), 0, 100).astype(np.float64), (), grad=False),
    OpCase("bernoulli_tensor_p", lambda p: U.bernoulli(p.abs(), generator=_gen(8)),
           lambda p: (ref_uniform(8, 0, p.shape) < np.abs(p)).astype(np.float64),
           (Arg((4, 5), "unit"),), grad=False),
    OpCase("bernoulli_p_noncontiguous", lambda p: U.bernoulli(p.abs(), generator=_gen(8)),
           lambda p: (ref_uniform(8, 0, p.shape) < np.abs(p)).astype(np.float64),
           (Arg((3, 4), "unit", layout="transposed"),), grad=False),
    OpCase("bernoulli_inplace_scalar_p",
           lambda: F.bernoulli_(U.zeros(3, 4), 0.25, generator=_gen(6)),
           lambda: (ref_uniform(6, 0, (3, 4)) < np.float32(0.25)).astype(np.float64), (),
           grad=False),
    OpCase("dropout", _seeded_default(11, lambda x: F.dropout(x, 0.3)),
           _dropout_ref(11, 0.3, (5, 6)), (Arg((5, 6)),)),
    OpCase("dropout_noncontiguous", _seeded_default(12, lambda x: F.dropout(x, 0.5)),
           _dropout_ref(12, 0.5, (4, 3)), (Arg((4, 3), layout="transposed"),)),
    OpCase("dropout2d", _seeded_default(13, lambda x: F.dropout2d(x, 0.4)),
           _dropout_ref(13, 0.4, (2, 3, 1, 1)), (Arg((2, 3, 2, 2)),)),
    OpCase("randperm", lambda: U.randperm(10, generator=_gen(21)),
           lambda: np.argsort(-ref_uniform(21, 0, (10,)), kind="stable"), (), grad=False,
           exact=True),
]
