"""The embedded stack started by the project itself: PostgreSQL, the MLflow store, Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa

from flows.services import resolve_endpoints
from infra.stack import EmbeddedStack
from smprod import db
from smprod.config import load_settings
from smprod.mlops.tracking import ensure_experiment

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("work")
    result = _cli("stack", "up", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    embedded = EmbeddedStack(workdir)
    yield embedded
    embedded.down()


def test_postgres_is_migrated_and_writable(stack):
    url = stack.database_url("smprod")
    assert db.current_heads(url)  # migrations applied
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (v text)")
        conn.execute(sa.text("INSERT INTO probe VALUES ('written')"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT v FROM probe")).scalar() == "written"
    assert str(stack.pgdata).startswith(str(stack.layout.root))


def test_mlflow_store_keeps_runs_and_artifacts_under_the_workdir(stack, tmp_path):
    endpoints = stack.endpoints(None)
    uri = endpoints.mlflow_tracking_uri
    experiment = ensure_experiment(uri, "stack-test", endpoints.mlflow_artifact_root)
    note = tmp_path / "note.txt"
    note.write_text("hello")
    mlflow.set_tracking_uri(endpoints.mlflow_tracking_uri)
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_param("window_days", 60)
        mlflow.log_metric("ubrmse", 0.031)
        mlflow.log_artifact(str(note))
    client = mlflow.MlflowClient(endpoints.mlflow_tracking_uri)
    stored = client.get_run(run.info.run_id)
    assert stored.data.params["window_days"] == "60"
    assert stored.data.metrics["ubrmse"] == pytest.approx(0.031)
    artifact = stack.artifacts / "stack-test" / run.info.run_id / "artifacts" / "note.txt"
    assert artifact.read_text() == "hello"
    assert ensure_experiment(endpoints.mlflow_tracking_uri, "stack-test", None) == experiment


def test_prefect_server_is_healthy_and_status_reports_everything(stack):
    url = stack.prefect_url()
    assert url is not None
    with urllib.request.urlopen(url + "/health", timeout=5) as response:
        assert response.status == 200
    result = _cli("stack", "status", "--workdir", str(stack.layout.root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlflow ui --backend-store-uri" in result.stdout
    assert url in result.stdout


def test_second_up_is_idempotent(stack):
    before = stack.prefect_url()
    result = _cli("stack", "up", "--workdir", str(stack.layout.root))
    assert result.returncode == 0, result.stderr
    assert stack.prefect_url() == before


def test_resolve_endpoints_prefers_configured_urls(stack):
    settings = load_settings(
        workdir=stack.layout.root,
        database_url="postgresql+psycopg://db.example/smprod",
        mlflow_tracking_uri="http://mlflow.example:5000",
        prefect_api_url="http://prefect.example:4200/api",
    )
    endpoints = resolve_endpoints(settings, start=False)
    assert endpoints.database_url == "postgresql+psycopg://db.example/smprod"
    assert endpoints.mlflow_tracking_uri == "http://mlflow.example:5000"
    assert endpoints.prefect_api_url == "http://prefect.example:4200/api"
    embedded = resolve_endpoints(load_settings(workdir=stack.layout.root), start=False)
    assert embedded.database_url == stack.database_url("smprod")


def test_down_stops_everything(tmp_path):
    stack = EmbeddedStack(tmp_path)
    stack.up(prefect=False)
    assert stack.postgres_socket_dir() is not None
    result = _cli("stack", "down", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert stack.postgres_socket_dir() is None
    assert _cli("stack", "status", "--workdir", str(tmp_path)).returncode == 1


def test_pgserver_is_imported_without_its_runtime_directory_warning():
    """pgserver's import asks platformdirs for XDG_RUNTIME_DIR, which services and containers
    often lack: every command that touched the stack printed a RuntimeDirWarning."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = "from infra.stack import import_pgserver; import_pgserver(); import pgserver._commands"
    strict = [sys.executable, "-W", "error", "-c"]
    run = subprocess.run([*strict, code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-1500:]
    bare = subprocess.run([*strict, "import pgserver"], env=env, capture_output=True)
    assert bare.returncode != 0  # the warning this guards against is still there to be silenced
