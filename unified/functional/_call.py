"""call_op(op, *tensors, **attrs): apply a registered op directly (used by grads and tests)."""

from unified.dispatch import apply


def call_op(op, *inputs, **attrs):
    return apply(op, inputs, attrs or None)
