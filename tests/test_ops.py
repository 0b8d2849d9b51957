"""Every row of the op table (tests/op_cases.py): eager forward against NumPy, and gradients
against finite differences of the NumPy reference in float64."""

import pytest

from tests.op_cases import all_cases
from tests.op_harness import check_forward, check_grad

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_matches_numpy(case):
    check_forward(case)


GRAD_CASES = [c for c in CASES if c.grad and any(a.is_float and a.grad for a in c.args)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradient_matches_finite_differences(case):
    check_grad(case)
