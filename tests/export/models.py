"""Shared model builders for the export tests (ONNX, bundle): each returns (model in eval mode,
example input tuple), seeded so every call gives the same weights and example. The digits CNN
is benchmarks W2's; the others cover residual adds and attention."""

from __future__ import annotations

import numpy as np

import unified as U
from unified import nn


def _example(*shape: int, seed: int) -> tuple[U.Tensor]:
    rng = np.random.default_rng(seed)
    return (U.tensor(rng.standard_normal(shape).astype(np.float32)),)


def _randomize_batch_norms(model: nn.Module, seed: int) -> None:
    """Non-trivial running statistics and affine parameters, so folding them is tested."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(U.tensor(rng.normal(0.0, 0.2, c).astype(np.float32)))
            m.running_var.copy_(U.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.weight.data.copy_(U.tensor(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.bias.data.copy_(U.tensor(rng.normal(0.0, 0.1, c).astype(np.float32)))


def mlp(batch: int = 2) -> tuple[nn.Module, tuple]:
    U.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.GELU(),
                          nn.Linear(16, 5))
    return model.eval(), _example(batch, 20, seed=0)


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]


def digits_cnn(batch: int = 2) -> tuple[nn.Module, tuple]:
    """conv3x3(16)-BN-ReLU, conv3x3(32, s2)-BN-ReLU, conv3x3(64, s2)-BN-ReLU, global average
    pool, flatten, linear(10) on 1x32x32 (benchmarks W2)."""
    U.manual_seed(1)
    model = nn.Sequential(*conv_bn_relu(1, 16), *conv_bn_relu(16, 32, 2),
                          *conv_bn_relu(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(64, 10))
    _randomize_batch_norms(model, seed=1)
    return model.eval(), _example(batch, 1, 32, 32, seed=1)


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: U.Tensor) -> U.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)


def resnet_cnn(batch: int = 2) -> tuple[nn.Module, tuple]:
    """A stem conv, two residual blocks, global average pool and a linear head on 3x16x16."""
    U.manual_seed(2)
    model = nn.Sequential(*conv_bn_relu(3, 16), ResidualBlock(16), ResidualBlock(16),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    _randomize_batch_norms(model, seed=2)
    return model.eval(), _example(batch, 3, 16, 16, seed=2)


def transformer(batch: int = 2) -> tuple[nn.Module, tuple]:
    """TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True) on
    (N, 10, 32)."""
    U.manual_seed(3)
    model = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    return model.eval(), _example(batch, 10, 32, seed=3)


MODELS = {"mlp": mlp, "digits_cnn": digits_cnn, "resnet_cnn": resnet_cnn,
          "transformer": transformer}
