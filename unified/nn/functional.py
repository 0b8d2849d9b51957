"""unified.nn.functional: the same functions as unified.functional (torch.nn.functional's names:
conv2d, relu, cross_entropy, ...), re-exported so `import unified.nn.functional as F` works as
it does with torch. Nothing is defined here."""

from unified.functional import *  # noqa: F403
from unified.functional import __all__  # noqa: F401
