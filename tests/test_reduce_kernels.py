"""The reduce kernels' schedules on inputs big enough to reach them (rows, columns, reductions
split across threads, strided and broadcast inputs) against NumPy, float32 sum accuracy, and
the gradients the op table cannot check by finite differences (ties, second order)."""

import numpy as np
import pytest

import unified as U

THREADS = [1, 2, 4]


@pytest.fixture(params=THREADS, ids=[f"threads{n}" for n in THREADS])
def threads(request):
    before = U.get_num_threads()
    U.set_num_threads(request.param)
    yield request.param
    U.set_num_threads(before)


# (shape, dims): reduce-all, last dim, leading dim (columns), both splits, mixed dims
BIG_CASES = [
    ((300_000,), (0,)),
    ((40, 5000), (1,)),
    ((5000, 40), (0,)),
    ((100_000, 3), (0,)),
    ((3, 100_000), (1,)),
    ((2, 70_000, 2), (0, 2)),
    ((64, 300, 7), (0, 1)),
    ((20, 30, 40), (1,)),
]


@pytest.mark.parametrize("shape,dims", BIG_CASES, ids=[str(s) for s, _ in BIG_CASES])
def test_big_reductions_match_numpy(threads, rng, shape, dims):
    a = rng.standard_normal(shape).astype(np.float32)
    x = U.tensor(a)
    a64 = a.astype(np.float64)
    np.testing.assert_allclose(x.sum(dims).numpy(), a64.sum(dims), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(x.mean(dims).numpy(), a64.mean(dims), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.var(dims).numpy(), a64.var(dims, ddof=1), rtol=1e-5)
    np.testing.assert_array_equal(U.amax(x, dims).numpy(), a.max(dims))
    np.testing.assert_allclose(U.logsumexp(x, dims).numpy(), np.log(np.exp(a64).sum(dims)),
                               rtol=1e-5)
    if len(dims) == 1:
        np.testing.assert_array_equal(x.argmin(dims[0]).numpy(), a.argmin(dims[0]))


@pytest.mark.parametrize("shape,dims", BIG_CASES[2:5], ids=[str(s) for s, _ in BIG_CASES[2:5]])
def test_big_reductions_of_transposed_views(threads, rng, shape, dims):
    a = rng.standard_normal(shape[::-1]).astype(np.float32)
    x = U.tensor(a).T  # the fastest dim is now the first one
    want = a.T.astype(np.float64)
    np.testing.assert_allclose(x.sum(dims).numpy(), want.sum(dims), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(x.argmax(dims[0]).numpy(), a.T.argmax(dims[0]))


def test_expanded_input_reduces_without_copy(threads):
    x = U.tensor(np.arange(5, dtype=np.float32)).expand(70_000, 5)  # stride 0 on dim 0
    np.testing.assert_allclose(x.sum(0).numpy(), np.arange(5) * 70_000.0)
    np.testing.assert_allclose(x.sum(1).numpy(), np.full(70_000, 10.0))


def test_int_sums_are_exact(threads, rng):
    a = rng.integers(-(2**40), 2**40, size=(3, 50_000))
    np.testing.assert_array_equal(U.tensor(a).sum(1).numpy(), a.sum(1))
    b = rng.integers(0, 256, size=(70_000, 4)).astype(np.uint8)
    np.testing.assert_array_equal(U.tensor(b).sum(0).numpy(), b.sum(0, dtype=np.int64))


def test_argmax_keeps_first_of_ties_across_threads(threads):
    a = np.zeros((4, 200_000), np.float32)
    a[:, [7, 150_000]] = 1.0
    np.testing.assert_array_equal(U.tensor(a).argmax(1).numpy(), [7, 7, 7, 7])
    np.testing.assert_array_equal(U.tensor(a.T.copy()).argmax(0).numpy(), [7, 7, 7, 7])


def test_nan_propagates_through_max_and_argmax():
    a = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, 4.0]], np.float32)
    x = U.tensor(a)
    values, indices = U.max(x, 1)
    assert np.isnan(values.numpy()[0]) and values.numpy()[1] == 5.0
    assert indices.tolist() == [1, 1]


def test_nan_propagates_in_long_rows_and_columns(threads):
    a = np.arange(3 * 5000, dtype=np.float32).reshape(3, 5000)
    a[1, 4321] = np.nan
    x = U.tensor(a)
    for got in (U.amax(x, 1), U.amin(x, 1), U.amax(U.tensor(a.T.copy()), 0)):
        np.testing.assert_array_equal(np.isnan(got.numpy()), [False, True, False])
    assert x.argmax(1).tolist()[1] == 4321 and x.argmin(1).tolist()[1] == 4321


def test_million_element_sum_is_accurate():
    a = np.full(1_000_000, 0.1, np.float32)
    got = float(U.tensor(a).sum().item())
    want = float(a.astype(np.float64).sum())
    assert abs(got - want) / want < 1e-6


def test_max_gradient_splits_ties_evenly():
    x = U.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    U.amax(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_min_all_gradient_with_ties():
    x = U.tensor([2.0, -1.0, -1.0, -1.0], requires_grad=True)
    x.min().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1 / 3, 1 / 3, 1 / 3], rtol=1e-6)


def test_sum_int_input_has_no_grad_and_int64_dtype():
    out = U.tensor(np.arange(6, dtype=np.int32).reshape(2, 3)).sum(0)
    assert out.dtype == U.int64 and not out.requires_grad


def test_second_order_gradient_of_var():
    # d/dx sum_i (d var / d x_i)^2 for var with N - 1: grad_i = 2 (x_i - m) / (N - 1)
    a = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    x = U.tensor(a, requires_grad=True)
    (g,) = U.autograd.grad(x.var(), [x], create_graph=True)
    (g * g).sum().backward()
    n = a.size
    centered = a - a.mean()
    want = 8.0 / (n - 1) ** 2 * centered  # d/dx of 4/(n-1)^2 * sum (x - m)^2
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, atol=1e-6)
