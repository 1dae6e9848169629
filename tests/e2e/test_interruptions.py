"""Interruptions end to end: PostgreSQL stopped mid-run.

The backfills run as ``smprod`` subprocesses (the command systemd and operators run) against
the Prefect test server, each on its own copy of the small synthetic world (tests/conftest.py)
and its own database, with one champion trained for the module (as tests/e2e/test_operations).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.testing.utilities import prefect_test_harness

from smprod import db, runs
from smprod.config import load_settings
from smprod.layout import WorkLayout
from tests.databases import DB_PASSWORD, with_password

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = "-98.0,35.0,-96.8,35.7"  # the small world's bbox (tests/conftest.py SMALL_BBOX)


@pytest.fixture(scope="module")
def prefect_api() -> str:
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def _fresh_database(pg_server, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))


@pytest.fixture(scope="module")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """A champion trained on the 14 days before the small world's last day."""
    from smprod import __version__
    from smprod.features import InputStore
    from smprod.lifecycle import TrainingSpec, train_and_register

    tracking_uri = _fresh_database(pg_server, "stop_mlflow")
    promotions = _fresh_database(pg_server, "stop_models")
    db.upgrade(promotions)
    spec = TrainingSpec(
        end=small_world.days[-2],
        window_days=14,
        region=small_world.region,
        coarse_product="SPL3SMP",
        kind="rf",
        model_name=f"stop-{uuid.uuid4().hex[:6]}",
        code_version=__version__,
    )
    artifacts = str(tmp_path_factory.mktemp("stop_mlflow_artifacts"))
    train_and_register(
        spec, InputStore(small_world.layout), tracking_uri, artifacts, db.make_engine(promotions)
    )
    return types.SimpleNamespace(tracking_uri=tracking_uri, name=spec.model_name)


def _world(small_world, champion, database_url: str, tmp_path: Path) -> types.SimpleNamespace:
    archive = tmp_path / "archive"
    shutil.copytree(small_world.archive, archive, copy_function=os.link)
    overrides = {
        "workdir": tmp_path / "work",
        "archive": archive,
        "bbox": BBOX,
        "database_url": database_url,
        "mlflow_tracking_uri": champion.tracking_uri,
        "model_name": champion.name,
        "validation_min_n": 1,
        "retrain_insitu_ubrmse": 1.0,
    }
    return types.SimpleNamespace(
        settings=load_settings(**overrides),
        overrides=overrides,
        layout=WorkLayout(tmp_path / "work"),
        days=small_world.days,
        region=small_world.region,
        engine=db.make_engine(database_url),
        log=tmp_path / "smprod.log",
    )


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


def _wait_until_stage_done(world, day, stage: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    """Poll the ledger until the running run of ``day`` has finished ``stage``."""
    deadline = time.monotonic() + timeout_s
    query = sa.text("SELECT stage_seconds FROM production_runs WHERE day = :d AND status = 'running'")
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"smprod ended early ({proc.returncode}): {world.log.read_text()[-3000:]}"
        with world.engine.connect() as conn:
            stages = conn.execute(query, {"d": day}).scalar()
        if stages and stage in stages:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run of {day} did not finish {stage!r} within {timeout_s} s")


# --------------------------------------------------------------------- PostgreSQL outage


def test_postgresql_stopped_mid_run_ends_in_one_clear_error_and_the_next_run_recovers(
    small_world, champion, stoppable_postgres, prefect_api, tmp_path
):
    from flows.daily import produce_one_day

    url = with_password(stoppable_postgres.database_url("smprod"))
    world = _world(small_world, champion, url, tmp_path)
    days = world.days[-4:-2]
    proc = _start(world, prefect_api, "backfill", "--start", str(days[0]), "--end", str(days[1]))
    _wait_until_stage_done(world, days[0], "ingest", proc)

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
