"""DataParallel (torch.nn.parallel.DistributedDataParallel's behaviour): every rank holds the
whole model, runs it on its own share of the batch, and the gradients are averaged over the
ranks before the optimizer reads them, so N ranks x batch B train like one process x batch N*B.

 1. At construction: check that every rank has the same parameters (consistency.py), then
    broadcast rank 0's parameters and buffers.
 2. Buckets: the parameters in reverse registration order (about the order backward produces
    their gradients), grouped into buckets of at most `bucket_cap_mb` MB; bucket k uses
    communication slot base + k.
 3. During backward, each parameter's post-accumulate-grad hook marks it ready; once all
    buckets up to a ready one are ready, each is started: its gradients flattened into one
    tensor (one registered `cat`) and `all_reduce_start`ed (mean over ranks). Buckets start in
    index order on every rank, as MPI requires of non-blocking collectives.
 4. When the backward ends (autograd.queue_callback), buckets not started yet are started
    (a parameter without a gradient contributes zeros), then each is `all_reduce_wait`ed and
    split back: `.grad` of every parameter becomes its slice of the averaged bucket. Each
    bucket also carries one flag per parameter (1 where this rank has a gradient), averaged
    with it: a parameter no rank has a gradient for keeps `.grad` None, as in one process
    (zeros stand in only where some ranks have one). Traced, the flags are constants of the
    graph and the graph check (below) makes them the same on every rank. Waiting
    at the end of backward (as DDP does) keeps the overlap with backward and makes `.grad`
    final for whatever runs before optimizer.step() (gradient clipping reads it).
 5. `no_sync()` skips 3-4: gradients accumulate locally and the next synced backward
    averages the sum.
In a traced step these are ordinary recorded ops: the plan starts each bucket's all-reduce
where backward produced it and waits at the end of backward. The first backward also checks
that every rank recorded the same graph so far (consistency.check_graph).
Parameters on a GPU take the same path on NCCL (nccl.py): each bucket's all-reduce runs on a
communication stream while backward kernels run on the current one.
Limits: float32 parameters; buffers are broadcast from rank 0 at every forward
(broadcast_buffers=True), one collective per buffer dtype."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

from unified.autograd import queue_callback
from unified.distributed import consistency, process_group
from unified.distributed.collectives import all_reduce_start, all_reduce_wait, broadcast
from unified.grad_mode import no_grad
from unified.nn.module import Module

_NEXT_SLOT = [0]  # slots of all DataParallel instances in this process (same order on ranks)


class _Bucket:
    """Parameters all-reduced as one message: their slices (offset, numel) of the flat
    tensor, the slot, and this backward's state."""

    def __init__(self, params: list, slot: int) -> None:
        self.params = params
        self.slot = slot
        self.offsets = []
        numel = 0
        for p in params:
            self.offsets.append((numel, p.numel()))
            numel += p.numel()
        self.numel = numel
        self.ready = 0
        self.token = None
        self.present: list[bool] = []  # which params had a gradient here when it started


def make_buckets(params: list, cap_bytes: int, first_slot: int) -> list[_Bucket]:
    """Step 2: params (already in reverse registration order) in order, a new bucket whenever
    the next one would pass cap_bytes (a parameter larger than the cap gets its own)."""
    groups: list[list] = []
    size = 0
    for p in params:
        nbytes = p.numel() * p.element_size()
        if not groups or size + nbytes > cap_bytes:
            groups.append([])
            size = 0
        groups[-1].append(p)
        size += nbytes
    return [_Bucket(g, first_slot + k) for k, g in enumerate(groups)]


class DataParallel(Module):
    """Wrap `module` for data-parallel training (call unified.distributed.init() first).

    >>> import unified as U, unified.distributed as dist
    >>> dist.init(backend="local")
    >>> model = dist.DataParallel(U.nn.Linear(4, 2))
    >>> model(U.ones(3, 4)).sum().backward()
    >>> model.module.weight.grad.shape
    (2, 4)
    >>> dist.destroy_process_group()
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0,
                 broadcast_buffers: bool = True, check_parameters: bool = True) -> None:
        super().__init__()
        process_group.require_init("DataParallel")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        if check_parameters:
            consistency.check_parameters(module)
        self._sync_state(list(module.parameters()) + list(module.buffers()))
        params = list({id(p): p for p in module.parameters() if p.requires_grad}.values())
        self._buckets = make_buckets(params[::-1], int(bucket_cap_mb * 2**20), _NEXT_SLOT[0])
        _NEXT_SLOT[0] += len(self._buckets)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._next_start = 0
        self._pending = False
        self._graph_checked = False
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    @property
    def buckets(self) -> list[list[str]]:
        """The parameter names of each bucket, in all-reduce order."""
        names = {id(p): n for n, p in self.module.named_parameters()}
        return [[names[id(p)] for p in b.params] for b in self._buckets]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.broadcast_buffers:
            self._sync_state(list(self.module.buffers()))
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward inside this block accumulates gradients locally, without communication;
        the first synced backward after it averages the accumulated gradients."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # ---- internals ------------------------------------------------------------------------
    def _sync_state(self, tensors: list) -> None:
        """Step 1: rank 0's values into every rank's tensors (in place), one broadcast per
        dtype (each collective is a point where ranks wait for each other)."""
        if process_group.get_world_size() == 1 or not tensors:
            return
        from unified.functional import cat

        by_dtype: dict[Any, list] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        with no_grad():
            for group in by_dtype.values():
                flat = broadcast(cat([t.reshape(-1) for t in group]), src=0)
                offset = 0
                for t in group:
                    t.copy_(flat[offset:offset + t.numel()].view(t.shape))
                    offset += t.numel()

    def _grad_ready(self, param: Any) -> None:
        """Step 3 (a post-accumulate-grad hook)."""
        if not self.require_backward_grad_sync:
            return
        bucket = self._bucket_of[id(param)]
        bucket.ready += 1
        if not self._pending:
            self._pending = True
            queue_callback(self._finish)
        while (self._next_start < len(self._buckets)
               and self._buckets[self._next_start].ready >= len(
                   self._buckets[self._next_start].params)):
            self._start(self._buckets[self._next_start])
            self._next_start += 1

    def _start(self, bucket: _Bucket) -> None:
        from unified.creation import tensor, zeros_like
        from unified.functional import cat

        bucket.present = [p.grad is not None for p in bucket.params]
        with no_grad():
            grads = [(p.grad if p.grad is not None else zeros_like(p)).reshape(-1)
                     for p in bucket.params]
            where = bucket.params[0].device  # GPU parameters: NCCL all-reduces (nccl.py)
            flags = tensor(np.array(bucket.present, dtype=np.float32),
                           device=None if where == "cpu" else where)
            bucket.token = all_reduce_start(cat(grads + [flags]), bucket.slot, op="mean")

    def _finish(self) -> None:
        """Step 4 (at the end of backward)."""
        if not self._graph_checked:
            self._graph_checked = True
            consistency.check_graph(_recording_so_far(), "DataParallel")
        for bucket in self._buckets[self._next_start:]:
            self._start(bucket)
        tracing = _recording_so_far().input_positions != ["eager"]
        with no_grad():
            for bucket in self._buckets:
                flat = all_reduce_wait(bucket.token, (bucket.numel + len(bucket.params),))
                # traced: the flags are the same on every rank (check_graph); eager: any rank's
                present = (bucket.present if tracing
                           else (flat[bucket.numel:].numpy() > 0).tolist())
                for p, (offset, numel), some in zip(bucket.params, bucket.offsets, present):
                    p.grad = flat[offset:offset + numel].view(p.shape) if some else None
                bucket.token = None
                bucket.ready = 0
        self._next_start = 0
        self._pending = False


def _recording_so_far() -> Any:
    """The graph a tracer is recording right now (its dispatch observer), as the fields
    tracer/record.py `fingerprint` reads; an empty stand-in when running eagerly, so that an
    eager rank and a tracing rank differ."""
    from unified.dispatch import OBSERVERS

    for observer in OBSERVERS.get():
        graph = getattr(observer, "graph", None)
        if graph is not None and hasattr(observer, "input_positions"):
            return types.SimpleNamespace(
                graph=graph, guards=observer.guards, rng=[], rng_advance=0,
                input_positions=observer.input_positions, input_writes=[], grads=[],
                out_spec=("py", None))
    return types.SimpleNamespace(graph=types.SimpleNamespace(nodes=[], outputs=[], writes=[]),
                                 guards=[], rng=[], rng_advance=0, input_positions=["eager"],
                                 input_writes=[], grads=[], out_spec=("py", None))
