"""unified.debug.detect_anomaly: planted NaN/Inf sources are caught at the right op, phase,
module path and line (the line is found by a marker comment in this file)."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U
from unified.debug import detect_anomaly, is_anomaly_enabled, set_detect_anomaly

nn = U.nn


def _line(marker: str) -> int:
    with open(__file__) as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith(f"# {marker}") and "_line(" not in text:
                return number
    raise LookupError(marker)


class Log(nn.Module):
    def forward(self, x):
        return x.log()  # MARK_LOG


class Sqrt(nn.Module):
    def forward(self, x):
        return x.sqrt()  # MARK_SQRT


class Exp(nn.Module):
    def forward(self, x):
        return x.exp()  # MARK_EXP


class Classifier(nn.Module):
    def __init__(self, last: nn.Module) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Identity(), nn.ReLU(), last)

    def forward(self, x):
        return self.features(x).sum()


def test_log_of_zero_is_caught_in_forward_at_the_log_line_with_module_path():
    model = Classifier(Log())
    x = U.tensor([[1.0, 0.0, 2.0, 3.0]], requires_grad=True)
    with pytest.raises(U.AnomalyError) as info, detect_anomaly():
        model(x)
    exc = info.value
    assert (exc.op, exc.phase, exc.lineno) == ("log", "forward", _line("MARK_LOG"))
    assert exc.module_path == "features.2 (Log)"
    message = str(exc)
    assert message.startswith("log produced -inf (1 of 4 values; input min 0, max 3) in forward")
    assert f"created at test_anomaly.py:{_line('MARK_LOG')} in Log.forward" in message
    assert message.count("test_anomaly.py") == 1  # located once, not again by the dispatcher
    assert "x.log()" in "\n".join(exc.__notes__)


def test_division_by_zero_in_backward_only_names_the_forward_op_and_its_line():
    model = Classifier(Sqrt())
    x = U.tensor([[4.0, 0.0, 1.0]], requires_grad=True)
    with detect_anomaly():
        loss = model(x)  # the forward is finite: sqrt(0) = 0
        assert np.isfinite(loss.item())
        with pytest.raises(U.AnomalyError) as info:
            loss.backward()  # d sqrt(x)/dx = 0.5 / sqrt(x): a division by zero at x = 0
    exc = info.value
    assert (exc.op, exc.phase) == ("div", "backward of sqrt")
    assert exc.lineno == _line("MARK_SQRT")
    assert exc.module_path == "features.2 (Sqrt)"
    assert "div produced inf (1 of 3 values" in str(exc)
    assert "in backward of sqrt, module features.2 (Sqrt), created at test_anomaly.py:" in str(exc)


def test_overflowing_exp_is_caught_at_exp():
    model = Classifier(Exp())
    x = U.tensor([[1.0, 100.0]])
    with pytest.raises(U.AnomalyError) as info, detect_anomaly():
        model(x)
    exc = info.value
    assert (exc.op, exc.phase, exc.lineno) == ("exp", "forward", _line("MARK_EXP"))
    assert exc.module_path == "features.2 (Exp)"
    assert "exp produced inf (1 of 2 values; input min 1, max 100)" in str(exc)


def test_off_by_default_and_bad_values_pass_through():
    assert not is_anomaly_enabled()
    y = U.tensor([0.0, 1.0]).log()
    assert y.tolist()[0] == -np.inf


def test_inplace_and_multi_output_ops_are_checked():
    t = U.zeros(3)
    with pytest.raises(U.AnomalyError, match=r"^mul produced nan \(3 of 3 values"), \
            detect_anomaly():
        t.mul_(U.tensor(np.inf))
    x = U.tensor([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(U.AnomalyError) as info, detect_anomaly():
        x.max(1)
    assert info.value.op == "max"
    assert "an input was already non-finite" in "\n".join(info.value.__notes__)


def test_global_switch_turns_checks_on_and_off():
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
        with pytest.raises(U.AnomalyError):
            U.tensor([-1.0]).sqrt()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    assert np.isnan(U.tensor([-1.0]).sqrt().item())


def test_grad_fn_metadata_records_the_creation_site_only_in_anomaly_mode():
    x = U.tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2.0).grad_fn.metadata == {}
    with detect_anomaly():
        y = Classifier(Exp())(x)
    exp_node = y.grad_fn.next_functions[0][0]
    assert exp_node.name() == "ExpBackward"
    meta = exp_node.metadata
    assert (meta["line"], meta["module"]) == (_line("MARK_EXP"), "features.2 (Exp)")
    assert meta["function"] == "Exp.forward" and meta["file"] == __file__


def test_traced_function_in_anomaly_mode_raises_a_trace_error():
    @U.trace
    def step(x):
        return (x * 2.0).sum()

    x = U.ones(3)
    assert step(x).item() == 6.0
    with detect_anomaly(), pytest.raises(U.TraceError, match="detect_anomaly runs only eagerly"):
        step(x)
    assert step(x).item() == 6.0  # fine again once the block is left


def test_decorator_form_checks_inside_the_function():
    @detect_anomaly()
    def bad():
        return U.tensor([0.0]).log()

    with pytest.raises(U.AnomalyError):
        bad()
    assert not is_anomaly_enabled()
