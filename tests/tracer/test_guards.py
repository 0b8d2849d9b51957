"""Value-read guards: a data-dependent branch takes the right path on replay in both
directions, strict mode raises a TraceError naming the line and both values, and printing a
tensor inside a traced function warns once."""

from __future__ import annotations

import pytest
from unified.tracer import TraceWarning

import unified as U


def branchy(x):
    if x.sum() > 0:  # the guarded line
        return x * 2.0
    return x - 1.0


def test_branch_on_tensor_value_takes_the_right_path_on_replay_both_ways():
    f = U.trace(branchy)
    pos, neg = U.tensor([1.0, 2.0]), U.tensor([-3.0, 1.0])
    for _ in range(4):  # record twice per path, then replay each
        assert f(pos).tolist() == [2.0, 4.0]
        assert f(neg).tolist() == [-4.0, 0.0]
    entry = next(iter(f._cache.values()))
    assert len(entry.variants) == 2
    assert f(U.tensor([5.0, -1.0])).tolist() == [10.0, -2.0]
    assert f(U.tensor([-5.0, 1.0])).tolist() == [-6.0, 0.0]


def test_strict_mode_raises_with_the_line_and_both_values():
    f = U.trace(branchy, strict=True)
    pos = U.tensor([1.0, 2.0])
    for _ in range(3):
        f(pos)
    with pytest.raises(U.TraceError) as info:
        f(U.tensor([-3.0, 1.0]))
    message = str(info.value)
    assert "test_guards.py:14" in message
    assert "was True when recorded, now False" in message


def test_item_read_is_a_guard():
    f = U.trace(lambda x: x * x.max().item())
    for _ in range(3):
        assert f(U.tensor([1.0, 3.0])).tolist() == [3.0, 9.0]
    assert f(U.tensor([1.0, 4.0])).tolist() == [4.0, 16.0]  # guard fails: re-recorded eagerly


def test_printing_a_tensor_inside_a_traced_function_warns_once():
    def f(x):
        print(x)
        return x + 1.0

    traced = U.trace(f)
    with pytest.warns(TraceWarning, match="printed inside the traced function"):
        traced(U.tensor([1.0]))
    traced(U.tensor([1.0]))  # no second warning (filterwarnings=error would raise)
    assert traced(U.tensor([2.0])).tolist() == [3.0]


def test_guard_hook_costs_nothing_outside_tracing():
    from unified.tensor import VALUE_READS

    assert VALUE_READS.get() is None
    assert U.tensor([1.5]).item() == 1.5


def test_failed_guard_on_the_plan_leaves_state_untouched_both_ways():
    """A branch that updates state differently per direction: a variant whose guard fails
    after its plan ran must not have written the state (replay.py's guard scheme)."""

    def make():
        acc = U.zeros(2)

        def step(x):
            if x.sum() > 0:
                acc.add_(x)
            else:
                acc.mul_(0.5)
            return acc * 1.0

        return acc, step

    xs = [U.tensor([1.0, 2.0]), U.tensor([-3.0, 1.0])] * 4 + [U.tensor([2.0, -1.0]),
                                                            U.tensor([-1.0, -1.0])] * 2
    acc_eager, eager = make()
    want = [eager(x).tolist() for x in xs]
    acc, step = make()
    traced = U.trace(step)
    assert [traced(x).tolist() for x in xs] == want
    assert acc.tolist() == acc_eager.tolist()
    (entry,) = traced._cache.values()
    assert len(entry.variants) == 2
    assert all(type(v.compiled).__name__ == "PlanReplay" and not v.compiled.in_place
               for v in entry.variants)
