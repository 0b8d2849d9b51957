"""Rank-aware output: with N processes every line would be printed N times, so by default only
rank 0 prints (`print`), logs (`get_logger`), shows a progress bar (`tqdm`) and writes
checkpoints (`save_on_rank0`, followed by a barrier so that every rank may read the file once
the call returns). In a world of one process (or before init) these are the plain calls."""

from __future__ import annotations

import builtins
import logging
from typing import Any

from unified.distributed.process_group import get_rank, get_world_size, is_initialized


def print(*args: Any, rank: int | None = 0, **kwargs: Any) -> None:  # noqa: A001
    """builtins.print on rank `rank` only (rank=None: every rank, each line prefixed with
    "[rank r]")."""
    if rank is None:
        if get_world_size() > 1:
            args = (f"[rank {get_rank()}]",) + args
        builtins.print(*args, **kwargs)
    elif get_rank() == rank:
        builtins.print(*args, **kwargs)


class _RankFilter(logging.Filter):
    def __init__(self, all_ranks: bool) -> None:
        super().__init__()
        self.all_ranks = all_ranks

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = get_rank()
        return self.all_ranks or get_rank() == 0


def get_logger(name: str = "unified.distributed", all_ranks: bool = False) -> logging.Logger:
    """A logger whose records are dropped on ranks other than 0 (unless all_ranks=True); each
    record gets a `rank` attribute for format strings (%(rank)s)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankFilter) for f in logger.filters):
        logger.addFilter(_RankFilter(all_ranks))
    return logger


def tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    """tqdm.tqdm shown on rank 0 only (disable=True elsewhere)."""
    from tqdm import tqdm as bar

    kwargs["disable"] = kwargs.get("disable", False) or get_rank() != 0
    return bar(iterable, *args, **kwargs)


def save_on_rank0(obj: Any, path: Any) -> None:
    """unified.save(obj, path) on rank 0, then a barrier: when it returns on any rank the
    checkpoint is complete."""
    from unified.serialization import save

    if get_rank() == 0:
        save(obj, path)
    if is_initialized() and get_world_size() > 1:
        from unified.distributed.collectives import barrier

        barrier()
