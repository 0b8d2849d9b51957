"""tracer/profile.py Timeline on hand-made step timelines: communication intervals from the end
of each all_reduce_start to the end of its wait, the compute time inside them (hidden), the
waiting time, and the text table. (A real replay is profiled in test_data_parallel.py.)"""

import pytest
from unified.tracer.profile import Step, Timeline


def steps():
    return [
        Step("conv2d", "%1: f32[4] = conv2d %0", 0, 100),
        Step("all_reduce_start", "%2: i64[2] = all_reduce_start %1 (traced at a.py:1)", 100, 110),
        Step("matmul", "%3: f32[4] = matmul %0", 110, 310),
        Step("all_reduce_start", "%4: i64[2] = all_reduce_start %3", 310, 320),
        Step("all_reduce_wait", "%5: f32[4] = all_reduce_wait %2", 320, 420),
        Step("relu", "%6: f32[4] = relu %5", 420, 440),
        Step("all_reduce_wait", "%7: f32[4] = all_reduce_wait %4", 440, 460),
    ]


def test_intervals_pair_each_start_with_its_wait_and_count_hidden_compute():
    t = Timeline(steps(), "step")
    assert [(c.start, c.wait) for c in t.comm] == [(1, 4), (3, 6)]
    first, second = t.comm
    assert (first.start_ns, first.end_ns, first.hidden_ns) == (110, 420, 200)  # the matmul
    assert (second.start_ns, second.end_ns, second.hidden_ns) == (320, 460, 20)  # the relu
    assert t.comm_ns == 310 + 140 and t.hidden_ns == 220
    assert t.hidden_fraction == pytest.approx(220 / 450)
    assert t.wait_ns == 120 and t.compute_ns == 320 and t.total_ns == 460


def test_table_lists_totals_and_one_line_per_all_reduce():
    text = Timeline(steps(), "step").table()
    lines = text.splitlines()
    assert lines[0].startswith("trace(step) profile: 7 steps") and "(49%)" in lines[0]
    assert len(lines) == 4 and "%2: i64[2] = all_reduce_start %1" in lines[2]
    assert "traced at" not in lines[2]


def test_a_step_without_all_reduce_has_no_hidden_fraction():
    t = Timeline(steps()[:1])
    assert t.comm == [] and t.hidden_fraction is None and "n/a" in t.table()


def test_plot_needs_matplotlib_or_says_so(tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            Timeline(steps()).plot(tmp_path / "t.png")
        return
    assert Timeline(steps()).plot(tmp_path / "t.png").endswith("t.png")
    assert (tmp_path / "t.png").stat().st_size > 0
