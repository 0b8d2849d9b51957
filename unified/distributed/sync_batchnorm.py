"""SyncBatchNorm (torch.nn.SyncBatchNorm): batch normalization whose training statistics are
those of the global batch (every rank's share), so N ranks x batch B normalize like one
process x batch N*B. Per channel, in training:

 1. the local sum and element count, all-reduced (one message of C + 1 values): the mean;
 2. the local sum of squared deviations from that mean, all-reduced: the biased variance
    (two passes, as exact as one-process BatchNorm, not E[x^2] - E[x]^2);
 3. out = (x - mean) / sqrt(var + eps) * weight + bias; running statistics as BatchNorm
    (unbiased variance over the global count).
Everything is registered ops, so autograd builds the backward itself: all_reduce's gradient
is the all-reduce of the gradient, which carries every rank's share of d(loss)/d(mean, var)
back to each rank's inputs. Evaluation, or a world of one process, is plain BatchNorm."""

from __future__ import annotations

from typing import Any

from unified.distributed.collectives import all_reduce
from unified.distributed.process_group import get_world_size, is_initialized
from unified.functional import cat
from unified.grad_mode import no_grad
from unified.nn.module import Module
from unified.nn.norm import _BatchNorm
from unified.tensor import Tensor


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) input with statistics of the batch of every rank.

    >>> import unified as U, unified.distributed as dist
    >>> bn = dist.SyncBatchNorm(2)
    >>> [round(v, 3) for v in bn(U.tensor([[1.0, 2.0], [3.0, 6.0]]))[:, 0].tolist()]
    [-1.0, 1.0]
    """

    _input_dims = (2, 3, 4, 5)

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and is_initialized() and get_world_size() > 1):
            return super().forward(input)
        self._check_input(input)
        c = input.shape[1]
        dims = (0,) + tuple(range(2, input.ndim))
        view = (1, c) + (1,) * (input.ndim - 2)
        # the element count computed by ops on the input, not a Python number, so that a
        # traced step reused at another batch size (tracer/batch.py) counts the new one
        count = (input.detach()[:, :1] * 0.0 + 1.0).sum().reshape(1)
        total = all_reduce(cat([input.sum(dims), count]))  # step 1
        n = total[c:]
        mean = total[:c] / n
        centered = input - mean.view(view)
        var = all_reduce((centered * centered).sum(dims)) / n  # step 2
        out = centered * (var + self.eps).rsqrt().view(view)  # step 3
        if self.affine:
            out = out * self.weight.view(view) + self.bias.view(view)
        if self.track_running_stats:
            self._update_running(mean, var, n)
        return out

    def _update_running(self, mean: Tensor, var: Tensor, n: Tensor) -> None:
        with no_grad():
            self.num_batches_tracked.add_(1)
            factor = 0.0 if self.momentum is None else self.momentum
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
            unbiased = var.detach() * (n / (n - 1.0))
            self.running_mean.mul_(1.0 - factor).add_(mean.detach(), alpha=factor)
            self.running_var.mul_(1.0 - factor).add_(unbiased, alpha=factor)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """`module` with every BatchNorm layer replaced by a SyncBatchNorm sharing its
        parameters and buffers (torch's helper); returns the new root."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            return _converted(cls, module)
        for name, child in list(module.named_children()):
            module.add_module(name, cls.convert_sync_batchnorm(child))
        return module


def _converted(cls: type, bn: Any) -> SyncBatchNorm:
    sync = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    if bn.affine:
        sync.weight, sync.bias = bn.weight, bn.bias
    if bn.track_running_stats:
        sync.running_mean = bn.running_mean
        sync.running_var = bn.running_var
        sync.num_batches_tracked = bn.num_batches_tracked
    sync.train(bn.training)
    return sync
