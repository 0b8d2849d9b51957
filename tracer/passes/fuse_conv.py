"""Conv + activation fusion: a `conv2d` call whose output is read only by a one-input fusable
activation (relu, gelu, leaky_relu, clamp, ...) becomes one `fused_conv2d` call
(unified/ops/fused_conv.py): each output block of the convolution gets the activation while it
is in cache, and one intermediate tensor and one kernel step go away. The linear counterpart
is fuse_linear.py, whose two steps this pass reuses with other ops.

Algorithm:
  1. A candidate pair is a call C whose OpDef is `conv2d` (unified/ops/conv.py) with a float32
     output, and its only user A: a node that tracer/passes/fuse.py would fuse (`fuse.fusable`)
     with exactly one input, C's output. C's output must not be a graph output or a written
     value (`fuse_linear.pairs(graph, conv2d)`).
  2. Each pair becomes `fused_conv2d(x, W, b, <C's stride, padding, dilation, groups>,
     activation=A.op.name, p0, p1)` at A's position with A's metas and source; A's uses move to
     it; A and C are removed (`fuse_linear.replace_pair`).

In training, relu's gradient reads relu's output, so the pre-activation dies at the relu and
the forward conv + relu fuses in forward+backward graphs too. Limits: only `conv2d` (not
conv_transpose2d, not a conv followed by batch_norm: fold_bn.py folds that first at export);
one activation per conv; run it before fuse.py, like fuse_linear.py."""

from __future__ import annotations

from unified.tracer.graph import Graph
from unified.tracer.passes import fuse_linear

from unified.ops.conv import conv2d
from unified.ops.fused_conv import fused_conv2d


def run(graph: Graph) -> Graph:
    """A copy of `graph` with every (conv2d, activation) pair of step 1 as one fused_conv2d."""
    out = graph.copy()
    for conv, act in fuse_linear.pairs(out, conv2d):
        fuse_linear.replace_pair(out, conv, act, fused_conv2d)
    return out
