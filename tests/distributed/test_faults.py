"""Failing fast on 2 MPI processes: a rank that raises, or exits with an error status, at step
3 stops the job within 30 s, and the launcher exits non-zero naming the rank; so does a rank
that leaves cleanly (returns from main, destroy_process_group) while the other waits for it in
a collective (watchdog.py), but not one that ends while the other works on alone; ranks that
build different models, or trace different steps, fail at start with the first difference."""

import pytest

from tests.distributed.launching import launch, requires_mpi

pytestmark = requires_mpi


@pytest.mark.parametrize("kind, message", [
    ("raise", "rank 1 failed: ValueError: injected failure at step 3"),
    ("exit", "rank 1 failed: exited with status 7"),
])
def test_a_failing_rank_stops_every_rank_and_is_named(kind, message):
    run = launch("faults.py", kind, timeout=60)
    assert run.returncode != 0
    assert run.seconds < 30
    assert message in run.stderr
    assert f"unified.distributed.launch: {message}" in run.stderr  # the launcher's summary


@pytest.mark.slow  # ~6 s each: the watchdog's grace period
@pytest.mark.parametrize("kind", ["return", "destroy"])
def test_a_rank_that_leaves_early_stops_the_ranks_waiting_for_it(kind):
    # rank 0 waits for the gradient all-reduce: eager, in an all_reduce_wait kernel that holds
    # the GIL (the trampoline releases it for the watchdog); traced, inside the plan's run
    run = launch("faults.py", kind, timeout=60)
    assert run.returncode != 0
    assert run.seconds < 30
    how = "exited" if kind == "return" else "called destroy_process_group()"
    message = f"rank 1 failed: {how} while rank 0 waited for it in MPI_Wait for "
    assert f"unified.distributed.launch: {message}" in run.stderr, run.stderr
    assert "(noticed by rank 0)" in run.stderr


@pytest.mark.slow
def test_a_rank_that_ends_while_another_works_alone_is_not_a_fault():
    run = launch("faults.py", "alone", timeout=60).check()
    assert "rank 0 worked alone; ranks that left: {1: 'exited'}" in run.stdout


def test_different_parameters_on_the_ranks_are_reported_at_start():
    run = launch("faults.py", "params", timeout=60)
    assert run.returncode != 0
    assert ("DataParallel: the parameters differ between ranks at position 0: rank 0: "
            "('parameter 0.weight', ((8, 4), 'float32')); rank 1: ('parameter 0.weight', "
            "((9, 4), 'float32'))") in run.stderr


def test_different_traced_graphs_on_the_ranks_are_reported_at_start():
    run = launch("faults.py", "graph", timeout=60)
    assert run.returncode != 0
    assert "DataParallel: the traced graphs differ between ranks at item" in run.stderr
    assert "rank 1: node %8 (const" in run.stderr  # the extra `* 1.0`
