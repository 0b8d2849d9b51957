"""The fused update ops through dispatch.apply_update: in place (same memory, version counters
bumped, observers told), refused on tensors that record gradients, and shape errors that name
the operands and the user's line. Values are checked in tests/cases/optim.py."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from unified.dispatch import apply_update, observe
from unified.ops import optim as optim_ops
from unified.tensor import version_counter

GROUP = {"lr": 0.5, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
         "nesterov": False, "maximize": False}


def _hyper(first=False):
    return U.tensor(np.array(optim_ops.sgd_hyper(GROUP, first), np.float32))


def test_apply_update_writes_in_place_and_tells_observers():
    p, g, buf = U.tensor([1.0, 2.0]), U.tensor([2.0, 4.0]), U.tensor([1.0, 1.0])
    arrays, versions = (p._data, buf._data), (version_counter(p)[0], version_counter(buf)[0])
    seen = []

    def watch(op, inputs, attrs, out, inplace=False):
        seen.append((op.name, out, inplace))

    watch.observes_inplace = True
    with observe(watch):
        out = apply_update(optim_ops.sgd_update, (p, g, buf, _hyper()))
    assert out == (p, buf) and (p._data, buf._data) == arrays
    np.testing.assert_allclose(buf.tolist(), [0.9 + 2.0, 0.9 + 4.0], rtol=1e-6)
    np.testing.assert_allclose(p.tolist(), [1.0 - 0.5 * 2.9, 2.0 - 0.5 * 4.9], rtol=1e-6)
    assert (version_counter(p)[0], version_counter(buf)[0]) == (versions[0] + 1,
                                                                versions[1] + 1)
    assert seen == [("sgd_update", (p, buf), True)]


def test_apply_update_refuses_a_tensor_that_records_gradients():
    p = U.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="sgd_plain_update: updates a tensor that requires "
                                           "grad in place") as info:
        apply_update(optim_ops.sgd_plain_update, (p, U.tensor([1.0]), _hyper()))
    assert "test_update_ops.py" in str(info.value)


def test_a_mismatched_gradient_is_reported_with_shapes_and_line():
    with pytest.raises(ValueError, match=r"sgd_update: input has shape \(3,\), the param has "
                                         r"shape \(2,\)") as info:
        apply_update(optim_ops.sgd_update, (U.zeros(2), U.zeros(3), U.zeros(2), _hyper()))
    assert "test_update_ops.py" in str(info.value)


def test_infer_names_the_operand():
    meta = optim_ops.TensorMeta
    f32 = np.dtype(np.float32)
    with pytest.raises(U.errors.ShapeError, match=r"adam_update: step must have one element, "
                                                  r"got \(2,\)"):
        optim_ops.adam_update.infer(meta((2,), f32), meta((2,), f32), meta((2,), f32),
                                    meta((2,), f32), meta((2,), f32), meta((10,), f32))
