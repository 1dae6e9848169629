"""``smprod serve`` registers the scheduled deployments on a real Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: flow/deployment -> the settings key of its schedule (the expected crons come from the settings).
EXPECTED = {
    "smprod-daily/daily": "daily_cron",
    "smprod-retrain/weekly-retrain": "retrain_cron",
    "smprod-reprocess/reprocess": "reprocess_cron",
}


def _deployments(client) -> dict:
    from prefect.exceptions import ObjectNotFound

    found = {}
    for name in EXPECTED:
        try:
            found[name] = client.read_deployment_by_name(name)
        except ObjectNotFound:
            continue
    return found


def _wait_for_deployments(client, proc: subprocess.Popen, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"smprod serve exited with {proc.returncode}"
        found = _deployments(client)
        if set(EXPECTED) <= set(found):
            return found
        time.sleep(0.5)
    raise AssertionError(f"deployments not registered within {timeout_s} s: {sorted(_deployments(client))}")


def test_serve_registers_the_three_scheduled_deployments(database_url, mlflow_tracking_uri, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from smprod.config import load_settings

    cron = {"daily_cron": "15 5 * * *", "retrain_cron": "0 7 * * 1", "reprocess_cron": "45 6 * * *"}
    with prefect_test_harness(server_startup_timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
        env.update(
            PYTHONPATH=str(PROJECT_ROOT),
            SMPROD_WORKDIR=str(tmp_path / "work"),
            SMPROD_DATABASE_URL=database_url,
            SMPROD_MLFLOW_TRACKING_URI=mlflow_tracking_uri,
            SMPROD_PREFECT_API_URL=str(PREFECT_API_URL.value()),
            **{f"SMPROD_{key.upper()}": value for key, value in cron.items()},
        )
        with open(tmp_path / "serve.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "serve"],
                env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                with get_client(sync_client=True) as client:
                    found = _wait_for_deployments(client, proc)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
        log_text = (tmp_path / "serve.log").read_text()

    assert "temporary server" not in log_text  # it used the configured server, not its own
    settings = load_settings(**cron)
    for name, key in EXPECTED.items():
        deployment = found[name]
        assert not deployment.paused, name
        [schedule] = deployment.schedules
        assert schedule.active, name
        assert schedule.schedule.cron == getattr(settings, key) == cron[key], name
        assert schedule.schedule.timezone in (None, "UTC"), name
        assert deployment.parameters["settings"]["workdir"] == str(tmp_path / "work"), name
        assert f"serving {name} on {cron[key]!r}" in log_text
