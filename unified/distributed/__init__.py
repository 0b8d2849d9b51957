"""unified.distributed: data-parallel training over MPI, eager and traced.

    import unified.distributed as dist
    dist.init()                                  # rank, world size from the MPI launcher
    model = dist.DataParallel(model)             # broadcasts parameters, all-reduces gradients
    loader = DataLoader(train, batch_size=32, sampler=dist.DistributedSampler(train))

Run with `python -m unified.distributed.launch -n 2 train.py`. The process group is in
process_group.py, collectives in collectives.py (registered ops: unified/ops/collective.py),
DataParallel in data_parallel.py, the sampler in sampler.py, SyncBatchNorm in
sync_batchnorm.py, rank-aware printing and checkpoints in rank_io.py, fault handling in
faults.py, watchdog.py (a rank that leaves early) and consistency.py, GPU collectives on NCCL
in nccl.py, the launcher in launch.py."""

from unified.distributed.collectives import (
    all_gather,
    all_reduce,
    all_reduce_start,
    all_reduce_wait,
    barrier,
    broadcast,
    reduce_scatter,
)
from unified.distributed.consistency import check_traced
from unified.distributed.data_parallel import DataParallel
from unified.distributed.process_group import (
    destroy_process_group,
    get_rank,
    get_world_size,
    init,
    is_initialized,
)
from unified.distributed.rank_io import get_logger, print, save_on_rank0, tqdm
from unified.distributed.sampler import DistributedSampler
from unified.distributed.sync_batchnorm import SyncBatchNorm

# `print` and `tqdm` are meant as dist.print / dist.tqdm: a star import must not shadow the
# builtin and the library
__all__ = [
    "DataParallel", "DistributedSampler", "SyncBatchNorm", "all_gather", "all_reduce",
    "all_reduce_start", "all_reduce_wait", "barrier", "broadcast", "check_traced",
    "destroy_process_group", "get_logger", "get_rank", "get_world_size", "init",
    "is_initialized", "reduce_scatter", "save_on_rank0",
]
