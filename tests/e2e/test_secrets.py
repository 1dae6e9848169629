"""No secret leaves the edge: passwords and Earthdata credentials, searched for everywhere.

The flows run as the e2e tests run them (``produce_one_day`` training the first champion,
``reprocess_updates``, in this process) and as the command line runs them (``smprod backfill``
and ``smprod config`` as subprocesses), with a database URL and an MLflow tracking URL that
carry passwords (the session's PostgreSQL trusts its unix socket: the password is sent, not
checked) and Earthdata credentials in the environment. Then every place where something is
shown or stored is searched: Prefect (flow runs with their parameters through the client, task
runs, logs, and the bytes of the server's whole database), the captured output and log records,
every file the runs wrote (provenance, STAC items, inputs, logs, MLflow artifacts) and every
table of the smprod and MLflow databases.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.testing.utilities import prefect_test_harness

from smprod import db
from smprod.config import load_settings
from tests.databases import DB_PASSWORD, with_password

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = "-98.0,35.0,-96.8,35.7"  # the small world's bbox (tests/conftest.py SMALL_BBOX)
ML_PASSWORD = "S3cretPW-mlflow"
EARTHDATA = {"EARTHDATA_USERNAME": "edl-user-7f3a9c", "EARTHDATA_PASSWORD": "S3cretPW-earthdata"}
SECRETS = (DB_PASSWORD, ML_PASSWORD, *EARTHDATA.values())


@pytest.fixture(scope="module")
def prefect_server():
    """The Prefect test server: its API URL and the SQLite file that holds all it stores."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL

    with prefect_test_harness(server_startup_timeout=120):
        database = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1])
        yield str(PREFECT_API_URL.value()), database


def _database(pg_server, prefix: str, password: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    url = db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))
    return with_password(url, password)


def _found(texts: dict[str, str | bytes]) -> list[str]:
    """``where: secret`` for every secret that occurs in one of ``texts``."""
    hits = []
    for where, text in texts.items():
        data = text.encode() if isinstance(text, str) else text
        hits += [f"{where}: {secret}" for secret in SECRETS if secret.encode() in data]
    return hits


def _prefect_records() -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort, LogSort, TaskRunSort

    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC, limit=200)
        task_runs = client.read_task_runs(sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
        logs = client.read_logs(sort=LogSort.TIMESTAMP_ASC, limit=200, offset=0)
    assert len(flow_runs) >= 5 and task_runs and logs  # produce, reprocess, backfill (+ 2 days)
    days = [run for run in flow_runs if run.parameters.get("day")]
    assert {run.parameters["settings"]["database_url"] for run in days} == {"**********"}  # masked
    dump = {"flow runs": [run.model_dump(mode="json") for run in flow_runs]}
    dump |= {"task runs": [run.model_dump(mode="json") for run in task_runs]}
    dump |= {"logs": [log.model_dump(mode="json") for log in logs]}
    return {where: json.dumps(value) for where, value in dump.items()}


def _files(root: Path, skip: Path) -> dict[str, bytes]:
    files = {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and skip not in p.parents}
    assert any(name.endswith("_provenance.json") for name in files)
    assert any("/catalog/" in name and name.endswith(".json") for name in files)  # STAC items
    return files


def _tables(url: str) -> dict[str, str]:
    """Every row of every table of the database at ``url``, as text."""
    engine = db.make_engine(url)
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        return {
            f"table {name}": "\n".join(
                conn.execute(sa.text(f'SELECT CAST(t AS text) FROM "{name}" t')).scalars()
            )
            for name in list(names)
        }


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_no_secret_is_found_in_anything_the_flows_show_or_store(
    small_world, pg_server, prefect_server, tmp_path, monkeypatch, caplog, capfd
):
    from flows.daily import produce_one_day, reprocess_updates

    api_url, prefect_database = prefect_server
    database_url = _database(pg_server, "secret_smprod", DB_PASSWORD)
    db.upgrade(database_url)
    tracking_uri = _database(pg_server, "secret_mlflow", ML_PASSWORD)
    for name, value in EARTHDATA.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlartifacts) is searched too
    caplog.set_level(logging.DEBUG)
    archive = tmp_path / "archive"
    shutil.copytree(small_world.archive, archive, copy_function=os.link)
    inputs = small_world.layout.root / "inputs"  # the training window, ingested
    shutil.copytree(inputs, tmp_path / "work" / "inputs", copy_function=os.link)
    overrides = {
        "workdir": tmp_path / "work",
        "archive": archive,
        "bbox": BBOX,
        "database_url": database_url,
        "mlflow_tracking_uri": tracking_uri,
        "training_window_days": 14,
        "model_name": f"secret-{uuid.uuid4().hex[:6]}",
        "validation_min_n": 1,
    }
    settings = load_settings(**overrides)
    days = small_world.days

    assert produce_one_day(settings, days[-1]) == "succeeded"  # trains the champion first
    assert reprocess_updates(settings) == {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
    env |= {f"SMPROD_{k.upper()}": str(v) for k, v in overrides.items()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "SMPROD_PREFECT_API_URL": api_url}
    backfill = _cli(["backfill", "--start", str(days[-3]), "--end", str(days[-2])], env, tmp_path)
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    shown = _cli(["config"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["database_url"].startswith("postgresql+psycopg://postgres:***@/")

    captured = capfd.readouterr()
    places: dict[str, str | bytes] = {
        "captured output": captured.out + captured.err,
        "log records": caplog.text,
        "smprod backfill output": backfill.stdout + backfill.stderr,
        "smprod config output": shown.stdout + shown.stderr,
        **_prefect_records(),
        **{
            f"Prefect database {p.name}": p.read_bytes()
            for p in prefect_database.parent.glob("prefect-test.db*")
        },
        **_files(tmp_path, skip=archive),
        **_tables(database_url),
        **_tables(tracking_uri),
    }
    assert "table production_runs" in places and "table params" in places  # smprod and MLflow
    assert _found({"a control": f"x{DB_PASSWORD}x"}) == [f"a control: {DB_PASSWORD}"]  # the search works
    assert _found(places) == []
