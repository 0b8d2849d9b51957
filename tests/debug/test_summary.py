"""unified.debug.summary on a small CNN: parameter counts and per-conv FLOPs against hand
counts, call order, output shapes and bytes, the printed table, and state left untouched."""

from __future__ import annotations

import numpy as np
import pytest

import unified as U

nn = U.nn


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),             # 8*3*3*3 + 8 = 224 params
            nn.BatchNorm2d(8),                          # 16 params (+ running stats, buffers)
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, groups=2),    # 16*4*3*3 + 16 = 592 params
        )
        self.head = nn.Linear(16 * 3 * 3, 10)           # 144*10 + 10 = 1450 params

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def _model_and_input():
    model = SmallCNN()
    model.features[0].bias.requires_grad_(False)  # 8 non-trainable parameters
    x = U.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32))
    return model, x


def test_parameter_counts_match_hand_counts():
    model, x = _model_and_input()
    s = U.debug.summary(model, x)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (2282, 2274, 8)
    assert s.param_bytes == 2282 * 4
    assert [s.row(n).params for n in ("features.0", "features.1", "features.3", "head")] == \
        [224, 16, 592, 1450]
    assert s.row("features").params == 224 + 16 + 592
    assert s.row("features.0").trainable_params == 216


def test_conv_and_linear_flops_match_hand_counts():
    model, x = _model_and_input()
    s = U.debug.summary(model, x)
    # 2 * Cout * Hout * Wout * (Cin / groups) * kh * kw * N
    conv0 = 2 * 8 * 8 * 8 * 3 * 3 * 3 * 2        # padding 1 keeps 8x8
    conv3 = 2 * 16 * 3 * 3 * (8 // 2) * 3 * 3 * 2  # (8 - 3) // 2 + 1 = 3
    head = 2 * 2 * 10 * 144                        # 2 * M * N * K
    assert (s.row("features.0").flops, s.row("features.3").flops, s.row("head").flops) == \
        (conv0, conv3, head)
    assert s.row("features.1").flops == s.row("features.2").flops == 0
    assert s.row("features").flops == conv0 + conv3
    assert s.total_flops == conv0 + conv3 + head == 81792


def test_rows_come_in_call_order_with_output_shapes_and_bytes():
    model, x = _model_and_input()
    s = U.debug.summary(model, x)
    assert [(r.name, r.kind, r.depth) for r in s.rows] == [
        ("", "SmallCNN", 0), ("features", "Sequential", 1), ("features.0", "Conv2d", 2),
        ("features.1", "BatchNorm2d", 2), ("features.2", "ReLU", 2), ("features.3", "Conv2d", 2),
        ("head", "Linear", 1)]
    assert s.row("features.0").output_shapes == [(2, 8, 8, 8)]
    assert s.row("features.3").output_shapes == [(2, 16, 3, 3)]
    assert s.row("head").output_bytes == 2 * 10 * 4
    assert s.activation_bytes >= sum(r.output_bytes for r in s.rows if r.depth == 2)


def test_table_prints_rows_totals_and_the_flop_convention():
    model, x = _model_and_input()
    text = str(U.debug.summary(model, x))
    lines = text.splitlines()
    assert lines[0].split() == ["module", "type", "output", "shape", "params", "FLOPs",
                                "output", "bytes"]
    assert any(line.split()[:2] == ["features.3", "Conv2d"] and "20,736" in line
               for line in lines)
    assert "params: 2,282 (trainable 2,274, non-trainable 8)" in text
    assert "FLOPs: 81,792" in text and "2*Cout*Hout*Wout*(Cin/groups)*kh*kw*N" in text


def test_summary_leaves_running_stats_unchanged_and_matches_the_eager_output():
    model, x = _model_and_input()
    bn = model.features[1]
    before = (bn.running_mean.tolist(), bn.running_var.tolist())
    U.debug.summary(model, x)
    assert (bn.running_mean.tolist(), bn.running_var.tolist()) == before
    assert model.training


def test_summary_inside_a_traced_function_raises():
    model, x = _model_and_input()

    @U.trace
    def step(inp):
        U.debug.summary(model, inp)
        return model(inp)

    with pytest.raises(U.TraceError, match="summary.. runs the model eagerly"):
        step(x)
