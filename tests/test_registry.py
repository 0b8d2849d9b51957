"""The op registry is complete: every op has a C++ kernel (or is a view op), every C++ kernel
belongs to an op, every op states its gradient and its ONNX lowering, and the op table's rows
(tests/op_cases.py), run forward and backward, dispatch every registered op."""

import numpy as np

import unified as U
from unified import _core
from unified.dispatch import observe
from unified.ops import OPS, Trait
from tests.op_cases import all_cases
from tests.op_harness import make_inputs, to_tensor


def test_every_op_kernel_exists_in_core():
    names = set(_core.kernel_names())
    missing = [op.name for op in OPS.values() if op.kernel is not None and op.kernel not in names]
    assert not missing, f"ops whose kernel is not registered in C++: {missing}"


def test_every_core_kernel_belongs_to_an_op():
    used = {op.kernel for op in OPS.values()}
    orphans = sorted(set(_core.kernel_names()) - used)
    assert not orphans, f"C++ kernels no op uses: {orphans}"


def test_kernel_less_ops_are_views():
    for op in OPS.values():
        if op.kernel is None:
            assert Trait.VIEW in op.traits and op.view is not None, op.name


def test_every_op_states_its_onnx_lowering():
    missing = [op.name for op in OPS.values() if op.onnx is None and not op.onnx_unsupported]
    assert not missing, f"ops with neither onnx nor onnx_unsupported: {missing}"


def test_op_table_exercises_every_op():
    seen: set[str] = set()

    def record(op, inputs, attrs, outputs):
        seen.add(op.name)

    with observe(record):
        for case in all_cases():
            arrays = make_inputs(case)
            grad = case.grad and any(a.is_float and a.grad for a in case.args)
            tensors = [to_tensor(a, arg, grad and arg.is_float and arg.grad)
                       for a, arg in zip(arrays, case.args)]
            outs = case.fn(*tensors)
            outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            if grad:
                total = None
                for o in outs:
                    if o.requires_grad:
                        term = (o * U.tensor(np.ones(o.shape, np.float32))).sum()
                        total = term if total is None else total + term
                if total is not None:
                    total.backward()
    missing = sorted(set(OPS) - seen)
    assert not missing, f"registered ops that no row of tests/op_cases.py dispatches: {missing}"


def test_registering_a_name_twice_fails():
    import pytest
    from unified.ops.registry import OpDef, register

    with pytest.raises(RuntimeError, match="registered twice"):
        register(OpDef(name="add", inputs=("a", "b"), infer=lambda a, b: a, kernel="add",
                       grad=None))


def test_an_op_must_state_its_gradient():
    import pytest
    from unified.ops.registry import OpDef, register

    with pytest.raises(RuntimeError, match="grad=None"):
        register(OpDef(name="no_grad_stated", inputs=("a",), infer=lambda a: a, kernel="add"))
