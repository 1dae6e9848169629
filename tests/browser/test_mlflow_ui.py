"""Model review in the MLflow UI: the registered model with its champion alias, a run's metrics,
and the training experiment opening on its runs table with the in situ review metrics as columns.

Runs a real ``mlflow server`` on 127.0.0.1 over a tracking store in PostgreSQL (pgserver), as a
reviewer would, and looks at it in headless Chromium. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from smprod import db
from smprod.mlops.registry import CHAMPION, apply_decision, client_for, decide_promotion
from smprod.mlops.tracking import runs_url
from smprod.validation.report import log_review
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
    for day, ubrmse in ((date(2024, 6, 1), 0.0512), (date(2024, 6, 2), 0.0487)):  # as the daily flow logs
        rows = [_overall("corrected", ubrmse, 0.71), _overall("smap", 0.0561, 0.66)]
        assert log_review(client_for(uri), MODEL, version, rows, day) == run_id
    return uri, (tmp_path / "artifacts").as_uri(), experiment_id, run_id


def _overall(variant: str, ubrmse: float, r: float) -> dict[str, object]:
    """An overall 30-day row of ``validation_metrics`` for version 1 (what the flow's rows hold)."""
    return {"scope": "overall", "model_version": "1", "window_name": "30d", "variant": variant,
            "n": 412, "r": r, "bias": -0.004, "ubrmse": ubrmse}  # fmt: skip


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
    run_name = client_for(base).get_run(run_id).info.run_name or run_id
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/#/models/{MODEL}", wait_until="domcontentloaded")
    page.get_by_text(f"@ {CHAMPION}", exact=False).first.wait_for(timeout=60_000)
    assert page.get_by_text("Version 1").count() >= 1
    page.screenshot(path=str(artifacts_dir / "mlflow-model-page.png"), full_page=True)

    page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}", wait_until="domcontentloaded")
    page.get_by_text("temporal_ubrmse").first.wait_for(timeout=60_000)
    assert page.get_by_text("spatial_r2").count() >= 1
    page.screenshot(path=str(artifacts_dir / "mlflow-run-page.png"), full_page=True)

    page.set_viewport_size({"width": 1800, "height": 900})
    page.goto(runs_url(base, experiment_id), wait_until="domcontentloaded")  # the link smprod prints
    header = page.get_by_role("columnheader", name="insitu_ubrmse_30d")
    _wait_then_screenshot(page, header, artifacts_dir / "mlflow-review-runs.png")
    assert "/runs?" in page.url and "overview" not in page.url, page.url  # not the GenAI overview
    assert page.get_by_text("No data available").count() == 0
    assert page.get_by_text(run_name).count() >= 1  # the training run is a row
    for column in ("insitu_ubrmse_30d", "insitu_ubrmse_30d_smap", "temporal_ubrmse"):
        assert page.get_by_role("columnheader", name=column).count() >= 1, column
    assert page.get_by_text("0.0487").count() >= 1  # the newest day's in situ ubRMSE, not 2024-06-01's
    assert page.get_by_text("0.0312").count() >= 1  # the training run's own temporal_ubrmse
    page.close()


def _wait_then_screenshot(page, locator, screenshot) -> None:
    """Wait for ``locator``; keep a screenshot and the page's text of what the reviewer saw,
    also when it never shows."""
    try:
        locator.first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # the table's cells fill in after its headers
    finally:
        page.screenshot(path=str(screenshot), full_page=True)
        screenshot.with_suffix(".txt").write_text(page.url + "\n" + page.inner_text("body"))
