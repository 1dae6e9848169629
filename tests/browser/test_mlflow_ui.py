"""Model review in the MLflow UI: the registered model with its champion alias, and a run's metrics.

Runs a real ``mlflow server`` on 127.0.0.1 over a tracking store in PostgreSQL (pgserver), as a
reviewer would, and looks at it in headless Chromium. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from smprod import db
from smprod.mlops.registry import CHAMPION, apply_decision, client_for, decide_promotion
from tests.browser.conftest import free_port, wait_for_http
from tests.mlflow_models import log_and_register

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MODEL = "smprod-downscaler"


@pytest.fixture
def reviewed_model(mlflow_tracking_uri, database_url, tmp_path):
    """A tracking store with one training run (metrics) registered as champion."""
    uri = mlflow_tracking_uri
    metrics = {"temporal_ubrmse": 0.0312, "spatial_r2": 0.871}
    version, run_id = log_and_register(uri, tmp_path / "artifacts", MODEL, metrics)
    decision = decide_promotion("ubrmse", 0.0312, None, None)
    apply_decision(client_for(uri), db.make_engine(database_url), MODEL, version, decision, None)
    experiment_id = client_for(uri).get_experiment_by_name("smprod-training").experiment_id
    return uri, (tmp_path / "artifacts").as_uri(), experiment_id, run_id


@pytest.fixture
def mlflow_server(reviewed_model, tmp_path):
    uri, artifacts, experiment_id, run_id = reviewed_model
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--default-artifact-root", artifacts,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}", experiment_id, run_id
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_model_page_shows_champion_and_run_shows_metrics(browser, mlflow_server, artifacts_dir):
    base, experiment_id, run_id = mlflow_server
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/#/models/{MODEL}", wait_until="domcontentloaded")
    page.get_by_text(f"@ {CHAMPION}", exact=False).first.wait_for(timeout=60_000)
    assert page.get_by_text("Version 1").count() >= 1
    page.screenshot(path=str(artifacts_dir / "mlflow-model-page.png"), full_page=True)

    page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}", wait_until="domcontentloaded")
    page.get_by_text("temporal_ubrmse").first.wait_for(timeout=60_000)
    assert page.get_by_text("spatial_r2").count() >= 1
    page.screenshot(path=str(artifacts_dir / "mlflow-run-page.png"), full_page=True)
    page.close()
