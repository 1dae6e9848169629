"""The run ledger and the per-day advisory lock on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from smprod import db
from smprod.runs import (
    DayLockedError,
    close_abandoned,
    day_lock,
    finish_run,
    latest_success,
    record_stage,
    runs_of,
    start_run,
    update_run,
)

pytestmark = pytest.mark.integration
DAY = date(2024, 6, 1)


def test_a_run_records_stages_inputs_and_outcome(database_url):
    engine = db.make_engine(database_url)
    run_id = start_run(engine, DAY, "flow-1")
    record_stage(engine, run_id, "ingest", 2.5)
    record_stage(engine, run_id, "predict", 7.25)
    update_run(engine, run_id, inputs={"SPL3SMP": ["SMAP_L3_SM_P_20240601_R19240_001.h5"]}, model_version="3")
    assert latest_success(engine, DAY) is None
    finish_run(engine, run_id, "succeeded")
    run = latest_success(engine, DAY)
    assert run is not None and run.stage_seconds == {"ingest": 2.5, "predict": 7.25}
    assert run.model_version == "3" and run.finished_at is not None


def test_abandoned_runs_are_closed_as_failed(database_url):
    engine = db.make_engine(database_url)
    start_run(engine, DAY, "killed")
    assert close_abandoned(engine, DAY) == 1
    (run,) = runs_of(engine, DAY)
    assert run.status == "failed" and "abandoned" in run.error


def test_one_day_cannot_be_locked_twice(database_url):
    engine = db.make_engine(database_url)
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with day_lock(engine, DAY):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    with pytest.raises(DayLockedError, match="another run"), day_lock(engine, DAY):
        pass
    with day_lock(engine, date(2024, 6, 2)):  # other days are free
        pass
    release.set()
    thread.join()
    with day_lock(engine, DAY):  # released with its holder
        pass


def test_unknown_status_is_refused(database_url):
    engine = db.make_engine(database_url)
    with pytest.raises(ValueError, match="status"):
        finish_run(engine, start_run(engine, DAY, None), "exploded")
