"""unified.nn: layers and models with torch.nn's names (Module, Parameter, Linear, Conv2d, ...).
Each concept has its own file; this module only re-exports. Functional forms are in
unified.nn.functional (the same as unified.functional); losses are in loss.py."""

from unified.nn.module import Module
from unified.nn.parameter import Parameter
