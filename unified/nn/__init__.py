"""unified.nn: layers and models with torch.nn's names (Module, Parameter, Linear, Conv2d, ...).
Each concept has its own file; this module only re-exports. Functional forms are in
unified.nn.functional (the same as unified.functional); losses are in loss.py."""

from unified.nn import functional, init
from unified.nn.activation import (GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,
                                   Softplus, Tanh)
from unified.nn.attention import MultiheadAttention
from unified.nn.containers import ModuleDict, ModuleList, Sequential
from unified.nn.conv import Conv2d, ConvTranspose2d
from unified.nn.dropout import Dropout, Dropout1d, Dropout2d
from unified.nn.flatten import Flatten, Unflatten
from unified.nn.linear import Identity, Linear
from unified.nn.module import Module
from unified.nn.norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from unified.nn.parameter import Parameter
from unified.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from unified.nn.sparse import Embedding
from unified.nn.transformer import TransformerEncoder, TransformerEncoderLayer

import importlib.util as _util  # noqa: E402

if _util.find_spec("unified.nn.loss") is not None:  # loss.py is written alongside (issue 3)
    from unified.nn.loss import *  # noqa: F403
