"""Errors name the op, the values and the user's own file:line (not a frame in unified)."""

import numpy as np
import pytest

import unified as U


def _line_of(marker: str) -> int:
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return i
    raise AssertionError(marker)


def test_broadcast_error_names_shapes_and_user_line():
    a = U.ones(2, 3)
    b = U.ones(4)
    with pytest.raises(U.ShapeError) as info:
        a + b  # MARK-broadcast
    msg = str(info.value)
    assert "add" in msg and "(2, 3)" in msg and "(4,)" in msg
    assert f"test_errors.py:{_line_of('MARK-broadcast')}" in msg
    assert any("MARK-broadcast" in note for note in info.value.__notes__)


def test_shape_error_is_a_value_error():
    with pytest.raises(ValueError):
        U.ones(2) * U.ones(3)


def test_dtype_error_names_dtypes_and_line():
    cond = U.tensor(np.array([1.0, 0.0], np.float32))
    with pytest.raises(U.DTypeError) as info:
        U.call_op(U.ops.lookup("where"), cond, U.ones(2), U.ones(2))  # MARK-dtype
    msg = str(info.value)
    assert "where" in msg and "float32" in msg
    assert f"test_errors.py:{_line_of('MARK-dtype')}" in msg


def test_kernel_status_error_reaches_python_with_location():
    # mixed dtypes reaching a kernel directly: the C++ Status becomes a TypeError
    from unified import _core

    with pytest.raises(TypeError, match="add: dtypes differ"):
        _core.run(_core.kernel_id("add"), (np.ones(2, np.float32), np.ones(2, np.int64)),
                  (np.empty(2, np.float32),))


def test_unknown_kernel_name_is_a_key_error():
    from unified import _core

    with pytest.raises(KeyError, match="no C\\+\\+ kernel named 'nope'"):
        _core.kernel_id("nope")


def test_readonly_output_is_rejected():
    from unified import _core

    out = np.empty(2, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.run(_core.kernel_id("neg"), (np.ones(2, np.float32),), (out,))


def test_bad_dtype_name():
    with pytest.raises(U.DTypeError, match="unknown dtype"):
        U.zeros(2, dtype="float128")
