"""Graph passes, one module each, each with one public `run(graph) -> Graph` that returns a
new graph and leaves the caller's alone: dce (dead code), cse (common subexpressions), fold
(constant folding). Which ops a pass may touch is read from OpDef traits, never op names."""

from __future__ import annotations

from unified.ops.registry import OpDef, Trait

_IMPURE = frozenset({Trait.RANDOM, Trait.SIDE_EFFECT})


def is_pure(op: OpDef) -> bool:
    """Same inputs and attrs give the same result and nothing else happens: the op may be
    merged (cse) or evaluated ahead of time (fold). RANDOM and SIDE_EFFECT ops are not."""
    return not (_IMPURE & op.traits)
