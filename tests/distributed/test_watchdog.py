"""watchdog.py in one process: the trampoline in front of a blocking MPI call (here libc's
abs(int), which has MPI_Barrier's C signature with 4-byte handles) passes the arguments and
result through and clears the "blocked" note afterwards; the decision to report a rank that
left: only while this rank is blocked in a collective, and only after the grace period.
(On 2 MPI processes: tests/distributed/test_faults.py.)"""

import ctypes
import ctypes.util
import time

import pytest

from unified.distributed import watchdog


def test_trampoline_calls_through_and_notes_nothing_afterwards():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    address = ctypes.cast(libc.abs, ctypes.c_void_p).value
    trampoline = watchdog.wrap("MPI_Barrier", address, ctypes.c_int32)
    call = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int32)(trampoline)
    assert call(-5) == 5 and call(7) == 7
    assert watchdog._BLOCKED[0] is None


@pytest.fixture
def state():
    saved = (dict(watchdog._S.left), watchdog._S.rank, watchdog._BLOCKED[0])
    yield watchdog._S
    watchdog._S.left, watchdog._S.rank, watchdog._BLOCKED[0] = saved


def test_a_rank_that_left_is_reported_only_while_this_one_waits_past_the_grace(state):
    now = time.monotonic()
    state.rank, state.left = 0, {}
    watchdog._BLOCKED[0] = ("MPI_Wait", now - 60)
    assert watchdog._stuck() is None  # nobody left
    state.left = {1: ("exited", now - 1.0)}
    assert watchdog._stuck() is None  # left 1 s ago: its last messages may still arrive
    state.left = {1: ("exited", now - watchdog.GRACE_S - 0.1)}
    rank, message = watchdog._stuck()
    assert rank == 1 and message.startswith("exited while rank 0 waited for it in MPI_Wait "
                                            "for 60.")
    watchdog._BLOCKED[0] = None
    assert watchdog._stuck() is None  # not waiting: working alone is fine
    watchdog._BLOCKED[0] = ("MPI_Bcast", time.monotonic() - 1.0)
    assert watchdog._stuck() is None  # blocked only 1 s
