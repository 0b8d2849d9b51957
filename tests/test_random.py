"""The random generator and sampling functions: Philox known answers, reproducibility from a
seed, offsets, generator state, statistics of 100k samples, dropout, and independence from the
thread count and the output's layout."""

import numpy as np
import pytest

import unified as U
import unified.functional as F
from tests.cases.random import philox4x32_10, ref_normal, ref_uniform
from unified.ops import random as ops

N = 100_000

# Random123 kat_vectors, "philox4x32 10" lines: counter words, key words, expected output words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def gen(seed: int) -> U.Generator:
    return U.Generator().manual_seed(seed)


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_reference_matches_random123_known_answers(counter, key, expected):
    words = philox4x32_10([[c] for c in counter], key)[:, 0]
    assert tuple(int(w) for w in words) == expected


def test_uniform_kernel_gives_the_zero_key_known_answer():
    got = U.rand(4, generator=gen(0)).numpy()
    want = np.array([w >> 8 for w in KAT[0][2]], np.float64) / 2**24
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_same_seed_gives_same_numbers_and_new_draws_differ():
    a = U.randn(50, generator=gen(123)).numpy()
    b = U.randn(50, generator=gen(123)).numpy()
    np.testing.assert_array_equal(a, b)
    g = gen(123)
    first, second = U.randn(50, generator=g).numpy(), U.randn(50, generator=g).numpy()
    assert not np.array_equal(first, second)
    assert not np.array_equal(a, U.randn(50, generator=gen(124)).numpy())


def test_manual_seed_seeds_the_default_generator():
    with U.random.fork_rng():
        U.manual_seed(5)
        a = U.rand(10).numpy()
        U.manual_seed(5)
        np.testing.assert_array_equal(a, U.rand(10).numpy())


def test_offset_advances_by_values_drawn():
    g = gen(1)
    U.randn(3, 7, generator=g)
    assert g.offset == 21
    U.rand(5, generator=g)
    assert g.offset == 26


def test_different_offsets_give_different_numbers():
    def draw(offset):
        state = U.tensor(np.array([3, offset], np.int64))
        return F.call_op(ops.uniform, state, size=(8,), low=0.0, high=1.0).numpy()

    at0, at1 = draw(0), draw(1)
    assert not np.any(at0 == at1)
    np.testing.assert_array_equal(at0[4:], at1[:4])  # offsets count 4-value Philox blocks


def test_seed_covers_the_uint64_range():
    np.testing.assert_array_equal(U.rand(6, generator=gen(2**64 - 1)).numpy(),
                                  U.rand(6, generator=gen(-1)).numpy())
    with pytest.raises(ValueError, match="seed"):
        U.manual_seed(2**64)
    with pytest.raises(TypeError, match="seed"):
        U.manual_seed("42")


def test_rng_state_round_trips_and_fork_rng_restores():
    with U.random.fork_rng():
        U.manual_seed(9)
        U.rand(3)
        state = U.get_rng_state()
        assert state.dtype == U.uint8 and state.shape == (16,)
        a = U.randn(5).numpy()
        U.set_rng_state(state)
        np.testing.assert_array_equal(a, U.randn(5).numpy())
        with U.random.fork_rng():
            U.randn(100)
        np.testing.assert_array_equal(U.get_rng_state().numpy(), state.numpy() + np.array(
            [0] * 8 + [5] + [0] * 7, np.uint8))
    with pytest.raises(ValueError, match="uint8 tensor of shape"):
        U.set_rng_state(U.zeros(16))


def test_generators_are_independent_of_the_default():
    with U.random.fork_rng():
        U.manual_seed(0)
        before = U.get_rng_state().numpy()
        U.randn(10, generator=gen(4))
        np.testing.assert_array_equal(before, U.get_rng_state().numpy())


def test_randn_statistics():
    x = U.randn(N, generator=gen(10)).numpy().astype(np.float64)
    assert abs(x.mean()) < 0.02
    assert abs(x.std() - 1.0) < 0.01
    assert abs(np.mean(x**3)) < 0.05
    assert abs(np.mean(x**4) - 3.0) < 0.1
    assert abs(np.mean(x[:-1] * x[1:])) < 0.02  # neighbours (pairs of one Box-Muller) uncorrelated


def test_rand_statistics():
    x = U.rand(N, generator=gen(11)).numpy().astype(np.float64)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.005
    assert abs(x.var() - 1 / 12) < 0.002


def test_normal_with_mean_and_std():
    x = U.normal(3.0, 2.0, (N,), generator=gen(12)).numpy().astype(np.float64)
    assert abs(x.mean() - 3.0) < 0.04
    assert abs(x.std() - 2.0) < 0.03
    with pytest.raises(ValueError, match="std"):
        U.normal(0.0, -1.0, (3,))


def test_normal_with_tensor_mean_broadcasts_and_is_differentiable():
    mean = U.tensor([0.0, 10.0, 100.0], requires_grad=True)
    x = U.normal(mean, 0.5, generator=gen(3))
    assert x.shape == (3,)
    np.testing.assert_allclose(x.detach().numpy(), np.array([0.0, 10.0, 100.0]) +
                               0.5 * ref_normal(3, 0, (3,)), rtol=1e-5, atol=1e-4)
    x.sum().backward()
    np.testing.assert_array_equal(mean.grad.numpy(), np.ones(3, np.float32))


def test_randint_covers_the_range_uniformly():
    x = U.randint(-2, 3, (N,), generator=gen(13)).numpy()
    assert x.dtype == np.int64
    values, counts = np.unique(x, return_counts=True)
    assert values.tolist() == [-2, -1, 0, 1, 2]
    assert np.all(np.abs(counts - N / 5) < 800)


def test_randint_wide_int64_range():
    x = U.randint(-(2**62), 2**62, (N,), generator=gen(14)).numpy()
    assert x.min() >= -(2**62) and x.max() < 2**62
    assert abs(x.astype(np.float64).mean()) < 2**62 * 0.02
    with pytest.raises(ValueError, match="low must be < high"):
        U.randint(5, 5, (3,))
    with pytest.raises(ValueError, match="does not fit"):
        U.randint(0, 300, (3,), dtype=U.uint8)


def test_bernoulli_rate_and_bad_probabilities():
    x = U.bernoulli(U.full((N,), 0.3), generator=gen(15)).numpy()
    assert set(np.unique(x).tolist()) == {0.0, 1.0}
    assert abs(x.mean() - 0.3) < 0.005
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\], got 1.5"):
        U.bernoulli(U.tensor([0.5, 1.5]))


def test_results_do_not_depend_on_thread_count():
    threads = U.get_num_threads()
    try:
        U.set_num_threads(1)
        one = U.randn(300_000, generator=gen(16)).numpy()
        U.set_num_threads(max(2, threads))
        many = U.randn(300_000, generator=gen(16)).numpy()
    finally:
        U.set_num_threads(threads)
    np.testing.assert_array_equal(one, many)


def test_inplace_fill_of_a_slice_uses_row_major_order_of_the_slice():
    base = U.zeros(6, 8)
    F.normal_(base[:, 1::2], 0.0, 1.0, generator=gen(17))
    np.testing.assert_array_equal(base.numpy()[:, 1::2], U.randn(6, 4, generator=gen(17)).numpy())
    assert not base.numpy()[:, ::2].any()
    t = U.zeros(3, 2).T
    F.uniform_(t, 2.0, 4.0, generator=gen(18))
    np.testing.assert_allclose(t.numpy(), ref_uniform(18, 0, (2, 3), 2.0, 4.0), rtol=1e-6)


def test_inplace_fill_rules():
    w = U.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.normal_()
    with U.no_grad():
        w.uniform_(-1.0, 1.0)
    assert np.all(np.abs(w.detach().numpy()) <= 1.0)
    with pytest.raises(TypeError, match="float32"):
        U.zeros(3, dtype=U.int64).normal_()


def test_creation_arguments():
    assert U.randn((2, 3)).shape == (2, 3)
    assert U.randn(4, requires_grad=True).requires_grad
    assert U.rand_like(U.zeros(2, 5)).shape == (2, 5)
    assert U.randn_like(U.zeros(4)).shape == (4,)
    assert U.randint_like(U.zeros(3, dtype=U.int32), 7).dtype == U.int32
    assert U.randint(10, (2, 2)).shape == (2, 2)
    assert U.randn(0, 4).shape == (0, 4)
    with pytest.raises(TypeError, match="float32"):
        U.randn(3, dtype=U.int64)
    with pytest.raises(ValueError, match="size"):
        U.rand(-1)


def test_randperm_is_a_permutation():
    p = U.randperm(1000, generator=gen(19)).numpy()
    assert p.dtype == np.int64
    assert sorted(p.tolist()) == list(range(1000))
    assert not np.array_equal(p, np.arange(1000))
    assert U.randperm(0).shape == (0,)
    assert U.randperm(4, dtype=U.int32).dtype == U.int32


def test_dropout_keeps_the_expected_fraction_scaled():
    with U.random.fork_rng():
        U.manual_seed(20)
        y = F.dropout(U.ones(N), p=0.2).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.8) < 0.005
    np.testing.assert_allclose(y[kept], 1.25, rtol=1e-6)


def test_dropout_identity_cases_and_bad_p():
    x = U.randn(4, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()
    for p in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            F.dropout(x, p)
    with pytest.raises(ValueError, match="4D or 5D"):
        F.dropout3d(U.ones(2, 3))


def test_dropout_gradient_is_the_scaled_mask():
    x = U.randn(50, 20, requires_grad=True)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    mask = (y.detach().numpy() != 0).astype(np.float32)
    np.testing.assert_allclose(x.grad.numpy(), mask / 0.6, rtol=1e-6)


def test_dropout_inplace_and_feature_dropout():
    x = U.ones(8, 16, 3, 3)
    with U.random.fork_rng():
        U.manual_seed(21)
        y = F.dropout2d(x, 0.5, inplace=True)
    assert y is x
    per_channel = x.numpy().reshape(8, 16, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # whole channels
    assert set(np.unique(per_channel).tolist()) <= {0.0, 2.0}
