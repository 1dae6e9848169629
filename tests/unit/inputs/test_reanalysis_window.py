"""The reanalysis window (issue 17, item 3): which days a block of product days trains on, and
how a range or a reprocess's scattered days are cut into blocks (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from smprod.inputs.window import reanalysis_blocks, reanalysis_days, training_days

DAY = date(2024, 6, 15)


def _span(days: list[date]) -> tuple[date, date, int]:
    return days[0], days[-1], len(days)


def test_a_window_is_centred_on_its_block_with_days_after_it():
    days = reanalysis_days(DAY, DAY + timedelta(days=6), 60)  # a week in a 60-day window
    assert _span(days) == (date(2024, 5, 19), date(2024, 7, 17), 60)  # 27 before, 26 after
    assert days == sorted(set(days))  # every day once, oldest first
    assert {DAY + timedelta(days=k) for k in range(7)} <= set(days)  # the block's own days


def test_the_odd_day_goes_before_and_a_one_day_block_sits_in_the_middle():
    assert _span(reanalysis_days(DAY, DAY, 5)) == (DAY - timedelta(days=2), DAY + timedelta(days=2), 5)
    assert _span(reanalysis_days(DAY, DAY, 4)) == (DAY - timedelta(days=2), DAY + timedelta(days=1), 4)


def test_near_the_newest_data_the_window_slides_back_and_keeps_its_length():
    block_end = DAY + timedelta(days=6)
    latest = block_end + timedelta(days=10)  # 10 of the 26 days after the block exist
    days = reanalysis_days(DAY, block_end, 60, latest=latest)
    assert _span(days) == (latest - timedelta(days=59), latest, 60)
    # at the end of the record: the window ends on the block's last day
    assert reanalysis_days(DAY, block_end, 60, latest=block_end) == training_days(block_end, 60)
    assert reanalysis_days(DAY, block_end, 60, latest=DAY) == training_days(block_end, 60)
    # data far enough ahead: the centred window is unchanged
    assert reanalysis_days(DAY, block_end, 60, latest=DAY + timedelta(days=400)) == reanalysis_days(
        DAY, block_end, 60
    )


def test_a_window_without_its_block_has_the_same_number_of_days_around_it():
    days = reanalysis_days(DAY, DAY, 40, exclude_block=True)
    assert DAY not in days and len(days) == 40
    assert _span(days) == (DAY - timedelta(days=20), DAY + timedelta(days=20), 40)
    clipped = reanalysis_days(DAY, DAY, 40, latest=DAY + timedelta(days=3), exclude_block=True)
    assert len(clipped) == 40 and clipped[-1] == DAY + timedelta(days=3) and DAY not in clipped


def test_a_block_longer_than_its_window_or_reversed_is_refused():
    with pytest.raises(ValueError, match="longer than the 5-day window"):
        reanalysis_days(DAY, DAY + timedelta(days=5), 5)
    with pytest.raises(ValueError, match="before it starts"):
        reanalysis_days(DAY, DAY - timedelta(days=1), 5)


def test_a_range_is_cut_into_blocks_from_its_first_day():
    days = [DAY + timedelta(days=k) for k in range(16)]
    blocks = reanalysis_blocks(days, 7)
    assert [len(b) for b in blocks] == [7, 7, 2]
    assert blocks[0][0] == DAY and blocks[-1][-1] == days[-1]
    assert [d for b in blocks for d in b] == days
    assert reanalysis_blocks(reversed(days), 7) == blocks  # any order
    assert reanalysis_blocks(days, 1) == [[d] for d in days]


def test_scattered_days_group_within_a_block_length_of_each_block_start():
    days = [DAY + timedelta(days=k) for k in (0, 2, 9, 2, 40)]
    assert reanalysis_blocks(days, 7) == [
        [DAY, DAY + timedelta(days=2)],
        [DAY + timedelta(days=9)],
        [DAY + timedelta(days=40)],
    ]
    assert reanalysis_blocks([], 7) == []
    with pytest.raises(ValueError):
        reanalysis_blocks(days, 0)
