"""Interruptions end to end: SIGTERM during a backfill, kill -9, PostgreSQL stopped mid-run.

The backfills run as ``smprod`` subprocesses (the command systemd and operators run) against
the Prefect test server, each on its own copy of the small synthetic world (tests/conftest.py)
and its own database, with one champion trained for the module (as tests/e2e/test_operations).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from smprod.ops import runs
from tests.databases import DB_PASSWORD, with_password
from tests.e2e.flow_worlds import flow_world, train_champion, wait_until_stage_done

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: How soon after SIGTERM a backfill must have exited (the brief of issue 18: a few seconds). It
#: exits in 1-3 s on an idle 2-core machine; 6.2 s was seen with five other test sessions running.
STOP_LIMIT_S = 8.0


@pytest.fixture(scope="module")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """A champion trained on the 14 days before the small world's last day."""
    return train_champion(small_world, pg_server, tmp_path_factory, "stop")[0]


@pytest.fixture
def world(small_world, champion, database_url, tmp_path) -> types.SimpleNamespace:
    return flow_world(small_world, champion, database_url, tmp_path)


def _start(world, prefect_api: str, *args: str) -> subprocess.Popen:
    """``smprod ARGS`` in its own process group, output to ``world.log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
    env.update({f"SMPROD_{k.upper()}": str(v) for k, v in world.overrides.items()})
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "SMPROD_PREFECT_API_URL": prefect_api})
    with open(world.log, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *args],
            cwd=world.log.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _flow_runs(pid: int) -> list:
    """Every Prefect flow run that process ``pid`` started (its ``smprod-pid`` tag)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    query = FlowRunFilter(tags=FlowRunFilterTags(all_=[f"smprod-pid:{pid}"]))
    with get_client(sync_client=True) as client:
        return list(client.read_flow_runs(flow_run_filter=query, sort=FlowRunSort.START_TIME_ASC, limit=200))


def _states(flow_runs) -> dict[str, str]:
    return {str(run.id): run.state_type.value for run in flow_runs}


# -------------------------------------------------------------------------------- SIGTERM


def test_sigterm_stops_a_backfill_at_the_next_safe_point(world, prefect_api):
    from flows.daily import backfill
    from smprod.product.read import product_problems

    days = world.days[-5:-1]
    proc = _start(world, prefect_api, "backfill", "--start", str(days[0]), "--end", str(days[-1]))
    wait_until_stage_done(world, days[1], "ingest", proc)  # the second day is under way

    os.kill(proc.pid, signal.SIGTERM)  # the main process only, as systemd's KillMode=mixed does
    sent = time.monotonic()
    proc.wait(timeout=120)
    took = time.monotonic() - sent
    print(f"SIGTERM -> exit {proc.returncode} in {took:.2f} s")

    output = world.log.read_text()
    assert proc.returncode == 143, output[-3000:]
    assert took < STOP_LIMIT_S, f"exit {took:.1f} s after SIGTERM"
    assert "Traceback" not in output
    assert re.search(
        rf"stopped by SIGTERM before stage '\w+' of {days[1]}; run the same command again", output
    )
    ledger = {day: runs.runs_of(world.engine, day) for day in days}
    assert [r.status for r in ledger[days[0]]] == ["succeeded"]
    [cancelled] = ledger[days[1]]
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert re.fullmatch(rf"stopped by SIGTERM before stage '\w+' of {days[1]}", cancelled.error)
    assert ledger[days[2]] == ledger[days[3]] == []  # never started

    states = _states(_flow_runs(proc.pid))  # the backfill and two smprod-day runs
    assert len(states) == 3 and "RUNNING" not in states.values() and "PENDING" not in states.values()
    assert states[ledger[days[0]][0].flow_run_id] == "COMPLETED"
    assert states[cancelled.flow_run_id] == "CANCELLED"
    assert sorted(states.values()) == ["CANCELLED", "CANCELLED", "COMPLETED"]  # the backfill too

    files = world.layout.product_files(days[1])  # all of a day's files, or none
    if files.soil_moisture.exists():
        assert product_problems(files, world.region) == []
    assert not [p for p in world.layout.root.rglob("*") if p.name.endswith(".part")]

    outcome = backfill(days[0], days[-1], settings=world.settings)  # the same command continues
    assert outcome == {str(days[0]): "skipped", **{str(day): "succeeded" for day in days[1:]}}


# -------------------------------------------------------------------------------- kill -9


def _running_probe(mark_tags: tuple[str, str]) -> str:
    """A RUNNING flow run marked as this (live) test process's; returns its id."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    @flow(name="live-probe")
    def probe() -> None:
        """Never runs: only its flow run record is made."""

    with get_client(sync_client=True) as client:
        return str(client.create_flow_run(probe, tags=list(mark_tags), state=Running()).id)


def test_flow_runs_of_a_killed_backfill_are_marked_crashed_by_the_next_start(world, prefect_api):
    from smprod.ops.orphans import ProcessMark

    days = world.days[-4:-2]
    proc = _start(world, prefect_api, "backfill", "--start", str(days[0]), "--end", str(days[1]))
    wait_until_stage_done(world, days[0], "ingest", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    killed = _flow_runs(proc.pid)
    assert sorted(_states(killed).values()) == ["RUNNING", "RUNNING"]  # the backfill and its day
    live = _running_probe(ProcessMark(socket.gethostname(), os.getpid()).tags())

    next_start = _start(world, prefect_api, "reprocess")  # any flow command: it recovers first
    assert next_start.wait(timeout=300) == 0, world.log.read_text()[-3000:]

    after = _flow_runs(proc.pid)
    assert sorted(_states(after).values()) == ["CRASHED", "CRASHED"]
    host = socket.gethostname()
    assert {run.state.message for run in after} == {
        f"its process {host}:{proc.pid} died (marked by the next smprod start)"
    }
    assert _states(_flow_runs(os.getpid()))[live] == "RUNNING"  # a live process's run is left alone
    [abandoned] = runs.runs_of(world.engine, days[0])
    assert abandoned.status == "failed"
    assert abandoned.error == f"abandoned: its process {host}:{proc.pid} died before finishing"


# --------------------------------------------------------------------- PostgreSQL outage


def test_postgresql_stopped_mid_run_ends_in_one_clear_error_and_the_next_run_recovers(
    small_world, champion, stoppable_postgres, prefect_api, tmp_path
):
    from flows.daily import produce_one_day

    url = with_password(stoppable_postgres.database_url("smprod"))
    world = flow_world(small_world, champion, url, tmp_path)
    days = world.days[-4:-2]
    proc = _start(world, prefect_api, "backfill", "--start", str(days[0]), "--end", str(days[1]))
    wait_until_stage_done(world, days[0], "ingest", proc)

    stopped = time.monotonic()
    stoppable_postgres.down_postgres()
    proc.wait(timeout=300)
    took = time.monotonic() - stopped
    print(f"PostgreSQL stopped -> exit {proc.returncode} in {took:.2f} s")

    output = world.log.read_text()
    assert proc.returncode == 3, output[-3000:]
    assert took < 20, f"{took:.0f} s: retried instead of failing clearly"
    assert "Traceback" not in output and DB_PASSWORD not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    where = re.escape(
        f"error: database 'smprod' on {stoppable_postgres.pgdata} as postgres unavailable while "
    )
    assert re.match(where, errors[0]), errors[0]

    stoppable_postgres.up_postgres()
    [interrupted] = runs.runs_of(world.engine, days[0])
    assert interrupted.status == "running"  # it ended while the database was away
    assert produce_one_day(world.settings, days[0]) == "succeeded"  # the next run recovers it
    closed, rerun = runs.runs_of(world.engine, days[0])
    assert closed.status == "failed" and closed.finished_at is not None
    assert closed.error.startswith("DatabaseError: database 'smprod' on ")  # the real cause, not "abandoned"
    assert DB_PASSWORD not in closed.error
    assert rerun.status == "succeeded"
    assert not list((world.layout.root / runs.PENDING_DIR).glob("*.json"))
