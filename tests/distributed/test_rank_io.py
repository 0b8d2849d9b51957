"""Rank-aware output (unified/distributed/rank_io.py): rank 0 prints, logs, shows progress bars
and saves; other ranks stay quiet unless asked. Ranks other than 0 are simulated by setting
the process group's rank."""

import logging

import pytest

import unified as U
import unified.distributed as dist
from unified.distributed import process_group


@pytest.fixture
def as_rank(monkeypatch):
    def set_rank(rank, size=2):
        monkeypatch.setattr(process_group._WORLD, "rank", rank)
        monkeypatch.setattr(process_group._WORLD, "size", size)
    return set_rank


def test_print_only_on_rank_0_unless_asked(as_rank, capsys):
    as_rank(1)
    dist.print("hidden")
    dist.print("everyone", rank=None)
    dist.print("for one", rank=1)
    as_rank(0)
    dist.print("shown")
    assert capsys.readouterr().out.splitlines() == ["[rank 1] everyone", "for one", "shown"]


def test_logger_drops_records_on_other_ranks(as_rank, caplog):
    logger = dist.get_logger("tests.rank_io")
    with caplog.at_level(logging.INFO, logger="tests.rank_io"):
        as_rank(1)
        logger.info("from rank 1")
        as_rank(0)
        logger.info("from rank 0")
    assert [r.getMessage() for r in caplog.records] == ["from rank 0"]
    assert caplog.records[0].rank == 0


def test_progress_bar_is_disabled_on_other_ranks(as_rank):
    as_rank(1)
    assert dist.tqdm(range(3)).disable
    as_rank(0)
    assert not dist.tqdm(range(3)).disable


def test_save_on_rank0_writes_once(as_rank, tmp_path):
    as_rank(1, size=1)
    dist.save_on_rank0({"w": U.ones(2)}, tmp_path / "r1.ufc")
    assert not (tmp_path / "r1.ufc").exists()
    as_rank(0, size=1)
    dist.save_on_rank0({"w": U.ones(2)}, tmp_path / "r0.ufc")
    assert U.load(tmp_path / "r0.ufc")["w"].tolist() == [1.0, 1.0]
