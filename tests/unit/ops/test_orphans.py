"""Which active runs belong to a dead process (the rule the next start applies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smprod.ops.orphans import PID_REUSE_MARGIN, ProcessMark, is_orphan

STARTED = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)
MARK = ProcessMark("prod-1", 4242)


def test_the_mark_round_trips_through_tags():
    tags = [*MARK.tags(), "nightly"]
    assert tags[:2] == ["smprod-host:prod-1", "smprod-pid:4242"]
    assert ProcessMark.from_tags(tags) == MARK
    assert ProcessMark.from_tags(["nightly"]) is None
    assert ProcessMark.from_tags(["smprod-host:prod-1", "smprod-pid:x"]) is None


@pytest.mark.parametrize(
    ("mark", "process_started", "orphan"),
    [
        (MARK, None, True),  # no process has the pid any more
        (MARK, STARTED - timedelta(seconds=20), False),  # the run's own process, still alive
        (MARK, STARTED + PID_REUSE_MARGIN / 2, False),  # within the clock-skew margin: alive
        (MARK, STARTED + PID_REUSE_MARGIN + timedelta(seconds=1), True),  # pid reused later
        (ProcessMark("prod-2", 4242), None, False),  # another host's run: it cannot be judged here
        (None, None, False),  # not started by an smprod command
    ],
)
def test_is_orphan(mark, process_started, orphan):
    assert is_orphan(mark, STARTED, "prod-1", process_started) is orphan


def test_a_run_without_a_start_time_is_judged_only_by_its_pid():
    assert is_orphan(MARK, None, "prod-1", None)
    assert not is_orphan(MARK, None, "prod-1", STARTED)
