"""unified.functional: the functions behind every tensor method and nn layer, with
torch.nn.functional's and torch's names and defaults. Each is a thin call to a registered op
through the dispatcher (unified/dispatch.py); one module per op family, each listing its
public names in __all__."""

from unified.functional import activation, attention, conv, indexing, linalg, loss, math, norm
from unified.functional import random
from unified.functional import reduction, selection, shape
from unified.functional._call import call_op
from unified.functional.activation import *  # noqa: F403
from unified.functional.attention import *  # noqa: F403
from unified.functional.conv import *  # noqa: F403
from unified.functional.indexing import *  # noqa: F403
from unified.functional.linalg import *  # noqa: F403
from unified.functional.loss import *  # noqa: F403
from unified.functional.math import *  # noqa: F403
from unified.functional.norm import *  # noqa: F403
from unified.functional.random import *  # noqa: F403
from unified.functional.reduction import *  # noqa: F403
from unified.functional.selection import *  # noqa: F403
from unified.functional.shape import *  # noqa: F403

__all__ = sorted(
    set(activation.__all__) | set(attention.__all__) | set(conv.__all__) | set(indexing.__all__)
    | set(linalg.__all__)
    | set(loss.__all__) | set(math.__all__) | set(norm.__all__) | set(random.__all__)
    | set(reduction.__all__) | set(selection.__all__) | set(shape.__all__)
) + ["call_op"]


def _locate_errors_at_caller() -> None:
    """Public functions report errors at the caller's line (validation raised before an op
    reaches the dispatcher, e.g. a bad `padding`, included)."""
    from unified.errors import located

    namespace = globals()
    for name in __all__:
        value = namespace[name]
        if callable(value) and not isinstance(value, type):
            namespace[name] = located(value)


_locate_errors_at_caller()
