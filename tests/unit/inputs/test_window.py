"""The training window: its days, the cold-start plan (pure) and how days are named."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from smprod.inputs.window import WindowPlan, WindowReport, format_days, plan_window, training_days

END = date(2024, 5, 30)


def _days(first: str, count: int) -> list[date]:
    start = date.fromisoformat(first)
    return [start + timedelta(days=k) for k in range(count)]


def test_training_days_end_on_the_day_oldest_first():
    days = training_days(END, 60)
    assert len(days) == 60
    assert days[0] == date(2024, 4, 1) and days[-1] == END
    assert all(b - a == timedelta(days=1) for a, b in pairwise(days))


def test_format_days_joins_consecutive_days_into_ranges():
    days = [*_days("2024-04-01", 30), date(2024, 5, 3), *_days("2024-05-05", 2)]
    assert format_days(reversed(days)) == "2024-04-01..2024-04-30, 2024-05-03, 2024-05-05..2024-05-06"
    assert format_days([]) == "none"


def test_plan_ingests_only_missing_days_that_have_smap():
    window = training_days(END, 60)
    ingested = set(_days("2024-05-20", 11))  # 05-20..05-30 already there
    smap = set(_days("2024-05-01", 40)) - {date(2024, 5, 10)}  # the archive starts 05-01, one gap
    plan = plan_window(window, ingested, smap)
    assert plan.days == tuple(window)
    assert plan.ingested == tuple(_days("2024-05-20", 11))
    assert plan.to_ingest == tuple(d for d in _days("2024-05-01", 19) if d != date(2024, 5, 10))
    assert plan.no_smap == (*_days("2024-04-01", 30), date(2024, 5, 10))
    # every day of the window is in exactly one group
    assert sorted(plan.ingested + plan.to_ingest + plan.no_smap) == window


def test_plan_of_a_complete_window_ingests_nothing():
    window = training_days(END, 10)
    plan = plan_window(window, set(window), set())
    assert plan.to_ingest == () and plan.no_smap == () and plan.ingested == tuple(window)


def test_report_lines_count_every_day_and_name_the_skipped_ones():
    window = tuple(_days("2024-04-29", 4))
    plan = WindowPlan(window, (window[3],), window[1:3], (window[0],))
    report = WindowReport(plan, "SPL3SMP", ingested_now=[window[1]], skipped={window[2]: "no valid SPL3SMP"})
    lines = report.lines()
    assert lines[0] == (
        "training window 2024-04-29..2024-05-02 (4 days): 1 already ingested, 1 ingested now, 2 skipped"
    )
    assert "skipped, no SPL3SMP granule in the source: 2024-04-29" in lines[1]
    assert lines[2] == "  skipped 2024-05-01: no valid SPL3SMP"
