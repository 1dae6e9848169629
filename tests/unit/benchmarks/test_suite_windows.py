"""The accuracy suite's training windows (benchmarks/suite.py): near-real-time trains on the
history before the scored days, reanalysis per block on the history length around it."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from benchmarks.suite import Method, after_days, windows
from smprod.synthetic.spec import SUITE

START = date(2024, 5, 1)


def _run(history: int = 10, test: int = 4, after: int = 5) -> SimpleNamespace:
    days = [START + timedelta(days=k) for k in range(history + test + after)]
    world = SimpleNamespace(name="w", history=history)
    return SimpleNamespace(
        world=world, train_days=days[:history], test_days=days[history : history + test], days=days
    )


def test_near_real_time_trains_every_scored_day_on_the_history():
    run = _run()
    plan = windows(run, Method("product"))
    assert set(plan) == set(run.test_days)
    assert {training for training in plan.values()} == {(tuple(run.train_days), ())}


def test_reanalysis_trains_each_block_on_the_history_length_around_it():
    run = _run()
    plan = windows(run, Method("r", training="reanalysis", block_days=2))
    first, second = plan[run.test_days[0]], plan[run.test_days[2]]
    assert plan[run.test_days[1]] == first and first != second
    for (days, block), scored in ((first, run.test_days[:2]), (second, run.test_days[2:])):
        assert len(days) == 10 and block == tuple(scored) and set(block) <= set(days)
        assert max(days) > max(block)  # days after the block
    one_block = windows(run, Method("r", training="reanalysis"))  # block_days 0: all scored days
    assert len(set(one_block.values())) == 1


def test_reanalysis_variants_leave_the_day_out_or_stop_at_the_record_end():
    run = _run()
    out = windows(run, Method("r", training="reanalysis", block_days=1, include_block=False))
    for day, (days, _) in out.items():
        assert day not in days and len(days) == 10
    end = windows(run, Method("r", training="reanalysis", at_record_end=True))
    days, _ = end[run.test_days[0]]
    assert max(days) == run.test_days[-1] and len(days) == 10


def test_a_window_the_world_cannot_give_is_refused():
    run = _run(after=0)
    run.days = run.days[6:]  # the first history days are missing
    with pytest.raises(ValueError, match="needs"):
        windows(run, Method("r", training="reanalysis", block_days=1))


def test_every_suite_world_has_the_days_a_centred_window_needs_after_its_scored_days():
    for world in SUITE:
        assert after_days(world) >= world.history // 2


def test_days_after_the_scored_ones_are_made_by_a_model_retrained_every_week():
    from benchmarks.suite import station_windows

    run = _run(history=10, test=4, after=12)
    later = run.days[14:]  # the 12 days after the scored ones
    plan = station_windows(run, later, retrain_days=7)
    # days 4..6 after the first scored day: still the first week, the scored days' model
    assert {plan[d] for d in later[:3]} == {(tuple(run.train_days), ())}
    second_week, third_week = plan[later[3]], plan[later[10]]
    assert {plan[d] for d in later[3:10]} == {second_week} and plan[later[11]] == third_week
    for (days, keep), start in ((second_week, run.test_days[0] + timedelta(days=7)),
                                (third_week, run.test_days[0] + timedelta(days=14))):  # fmt: skip
        assert keep == () and len(days) == 10 and max(days) == start - timedelta(days=1)
