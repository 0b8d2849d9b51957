"""nn kernels on inputs large enough to take the threaded and vectorized paths (the op table's
rows are small), checked against NumPy in float64, with 1 and 2 threads giving the same bits."""

import numpy as np
import pytest

import unified as U
import unified.functional as F
from tests.cases.nn import _bn_train, _ln, _log_softmax, _softmax, _topk


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = U.get_num_threads()
    U.set_num_threads(request.param)
    yield request.param
    U.set_num_threads(before)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_large(threads, rng, dim, layout):
    data = rng.standard_normal((300, 500)).astype(np.float32) * 4
    x = U.tensor(data) if layout == "contiguous" else U.tensor(data.T.copy()).T
    np.testing.assert_allclose(F.softmax(x, dim).numpy(), _softmax(data.astype(np.float64), dim),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(F.log_softmax(x, dim).numpy(),
                               _log_softmax(data.astype(np.float64), dim), rtol=1e-5, atol=1e-5)


def test_softmax_backward_large(threads, rng):
    data = rng.standard_normal((64, 40, 30)).astype(np.float32)
    g = rng.standard_normal(data.shape).astype(np.float32)
    for dim in (0, 1, 2):
        x = U.tensor(data, requires_grad=True)
        F.softmax(x, dim).backward(U.tensor(g))
        y = _softmax(data.astype(np.float64), dim)
        want = y * (g - np.sum(g * y, axis=dim, keepdims=True))
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-4, atol=1e-6)


def test_norms_large(threads, rng):
    data = rng.standard_normal((32, 16, 12, 12)).astype(np.float32) + 3.0
    rm, rv, w, b = (np.zeros(16), np.ones(16), rng.standard_normal(16), rng.standard_normal(16))
    out = F.batch_norm(U.tensor(data), U.zeros(16), U.ones(16), U.tensor(w), U.tensor(b), True)
    np.testing.assert_allclose(out.numpy(), _bn_train(data.astype(np.float64), rm, rv, w, b),
                               rtol=1e-4, atol=1e-4)
    ln = F.layer_norm(U.tensor(data), (12, 12))
    np.testing.assert_allclose(ln.numpy(), _ln(data.astype(np.float64), 2), rtol=1e-4, atol=1e-4)


def test_layer_norm_affine_grads_large(threads, rng):
    data = rng.standard_normal((4096, 24)).astype(np.float32)
    g = rng.standard_normal(data.shape).astype(np.float32)
    w = U.ones(24, requires_grad=True)
    b = U.zeros(24, requires_grad=True)
    F.layer_norm(U.tensor(data), (24,), w, b).backward(U.tensor(g))
    xhat = _ln(data.astype(np.float64), 1)
    np.testing.assert_allclose(w.grad.numpy(), np.sum(g * xhat, axis=0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(b.grad.numpy(), np.sum(g, axis=0), rtol=1e-4, atol=1e-3)


def test_topk_and_one_hot_large(threads, rng):
    data = rng.permutation(200 * 300).reshape(200, 300).astype(np.float32)
    values, indices = U.topk(U.tensor(data), 7, dim=0, largest=False)
    want_values, want_indices = _topk(data, 7, 0, False)
    np.testing.assert_array_equal(values.numpy(), want_values)
    np.testing.assert_array_equal(indices.numpy(), want_indices)
    labels = rng.integers(0, 10, (5000, 9))
    np.testing.assert_array_equal(F.one_hot(U.tensor(labels), 10).numpy(), np.eye(10)[labels])
