"""The run ledger and the per-day advisory lock on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from smprod import db
from smprod.errors import DatabaseError
from smprod.ops.runs import (
    DayLockedError,
    apply_pending,
    close_abandoned,
    day_lock,
    finish_or_defer,
    finish_run,
    latest_success,
    record_stage,
    runs_of,
    start_run,
    update_run,
)
from tests.databases import DB_PASSWORD, with_password

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


def test_a_run_stopped_at_a_safe_point_is_cancelled(database_url):
    engine = db.make_engine(database_url)
    run_id = start_run(engine, DAY, "flow-1")
    finish_run(engine, run_id, "cancelled", "stopped by SIGTERM before stage 'publish' of 2024-06-01")
    assert close_abandoned(engine, DAY) == 0  # cancelled is an end, not an abandoned run
    (run,) = runs_of(engine, DAY)
    assert run.status == "cancelled" and run.finished_at is not None


def test_a_run_the_outage_could_not_close_gets_its_real_outcome_when_the_database_is_back(
    stoppable_postgres, tmp_path
):
    engine = db.make_engine(with_password(stoppable_postgres.database_url("smprod")))
    run_id = start_run(engine, DAY, "flow-1")
    stoppable_postgres.down_postgres()

    with pytest.raises(DatabaseError) as info:
        record_stage(engine, run_id, "produce", 1.5)
    message = str(info.value)
    assert message.startswith(f"database 'smprod' on {stoppable_postgres.pgdata} as postgres unavailable ")
    assert f"recording stage 'produce' of run {run_id} in the run ledger" in message
    assert DB_PASSWORD not in message
    ended = datetime(2024, 6, 2, 6, 30, tzinfo=UTC)
    error = f"DatabaseError: {message}"
    outage = finish_or_defer(engine, run_id, "failed", error, tmp_path / "pending", ended)
    assert isinstance(outage, DatabaseError) and len(list((tmp_path / "pending").iterdir())) == 1

    stoppable_postgres.up_postgres()
    assert runs_of(engine, DAY)[0].status == "running"  # not closed yet: the database was away
    assert apply_pending(engine, tmp_path / "pending") == [run_id]
    (run,) = runs_of(engine, DAY)
    assert (run.status, run.error, run.finished_at) == ("failed", error, ended)
    assert close_abandoned(engine, DAY) == 0  # so it is not "abandoned: the process died"
    assert apply_pending(engine, tmp_path / "pending") == [] and not list((tmp_path / "pending").iterdir())


def test_the_lock_release_never_masks_what_ended_the_block(stoppable_postgres):
    engine = db.make_engine(stoppable_postgres.database_url("smprod"))
    with pytest.raises(RuntimeError, match="the real error"), day_lock(engine, DAY):
        stoppable_postgres.down_postgres()
        raise RuntimeError("the real error")  # not pg_advisory_unlock's OperationalError

    with (
        pytest.raises(DatabaseError, match="unavailable while taking the lock of 2024-06-01"),
        day_lock(engine, DAY),
    ):
        pass

    stoppable_postgres.up_postgres()
    with day_lock(engine, DAY):  # free: the lock went with the dead session
        pass
    with day_lock(engine, DAY):  # and released normally
        pass
