"""Loading a state_dict into a Module: the per-tensor copy with shape checks, the
(missing_keys, unexpected_keys) result and the one error that lists every problem, in the
spirit of torch's "Error(s) in loading state_dict". Module.load_state_dict (module.py) drives it."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from unified.errors import fmt_shape
from unified.grad_mode import no_grad
from unified.tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What load_state_dict returns: keys the model has but the state_dict lacks, and keys the
    state_dict has but the model does not."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")


def as_tensor_value(value: Any) -> Tensor:
    """A state_dict entry as a Tensor (checkpoints may hold NumPy arrays)."""
    if isinstance(value, Tensor):
        return value
    return Tensor(np.asarray(value))


def load_tensor(key: str, target: Tensor, value: Any, errors: list[str]) -> None:
    """Copy `value` into `target` in place (converted to target's dtype), or note why not."""
    try:
        source = as_tensor_value(value)
    except (TypeError, ValueError) as exc:
        errors.append(f"cannot load {key}: {type(value).__name__} is not a tensor ({exc})")
        return
    if tuple(source.shape) != tuple(target.shape):
        errors.append(f"size mismatch for {key}: checkpoint {fmt_shape(source.shape)}, "
                      f"model {fmt_shape(target.shape)}")
        return
    with no_grad():
        target.copy_(source)


def format_errors(module_name: str, missing: list[str], unexpected: list[str],
                  errors: list[str]) -> str:
    """One message naming every missing key, unexpected key and size mismatch."""
    lines = [f"Error(s) in loading state_dict for {module_name}:"]
    if unexpected:
        lines.append(f"  unexpected key(s) in state_dict: {', '.join(map(repr, unexpected))}")
    if missing:
        lines.append(f"  missing key(s) in state_dict: {', '.join(map(repr, missing))}")
    lines += [f"  {e}" for e in errors]
    if unexpected or missing:
        lines.append("  hint: pass strict=False to load only the matching keys (size mismatches "
                     "are always errors)")
    return "\n".join(lines)
