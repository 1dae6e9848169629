"""``smprod status`` end to end on a small produced work directory: after a two-day backfill in
which the first day failed, and with a better IMERG run in the archive for the second, it names
the newest day and its latency, the failed day and the day pending reprocessing, as text and as
JSON; a changed product setting makes the published day pending too, with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.flow_worlds import flow_world, train_champion
from tests.e2e.test_operations import _add_imerg_final

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    champion, result = train_champion(small_world, pg_server, tmp_path_factory, "status")
    assert result.decision.promote
    return champion


@pytest.fixture(scope="module")
def world(small_world, champion, pg_server, tmp_path_factory, prefect_api) -> types.SimpleNamespace:
    """Two days backfilled, the first without its SMAP granule (failed); then the IMERG Final
    granule of the last day added to the archive (it was made with Late)."""
    from flows.daily import backfill
    from smprod import db
    from tests.e2e.flow_worlds import fresh_database

    database_url = fresh_database(pg_server, "status")
    db.upgrade(database_url)
    world = flow_world(small_world, champion, database_url, tmp_path_factory.mktemp("status"))
    failed, last = world.days[-3], world.days[-2]
    [smap] = world.archive.rglob(f"SMAP_L3_SM_P_{failed:%Y%m%d}_*.h5")
    smap.unlink()
    outcome = backfill(failed, last, settings=world.settings)
    assert outcome[str(last)] == "succeeded" and outcome[str(failed)].startswith("failed")
    world.final = _add_imerg_final(world.archive, last)
    return world


def _status(world, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
    environ.update({f"SMPROD_{k.upper()}": str(v) for k, v in world.overrides.items()}, **env)
    environ["PYTHONPATH"] = str(PROJECT_ROOT)
    command = [sys.executable, "-m", "flows.cli", "status", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=300)


def test_status_names_newest_failed_and_pending_days(world) -> None:
    failed, last = world.days[-3], world.days[-2]
    done = _status(world)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"newest day: {last} (produced ") and "latency " in line for line in lines), (
        lines
    )
    assert "failed days: 1" in lines
    assert any(line.startswith(f"  {failed}: ") and "no valid SPL3SMP granule" in line for line in lines), (
        lines
    )
    assert "pending reprocessing: 1" in lines
    assert f"  {last}: {world.final} replaces 3B-DAY-L." in done.stdout

    report = json.loads(_status(world, "--json").stdout)
    assert report["product_days"] == 1 and report["newest"]["day"] == last.isoformat()
    record = json.loads(world.layout.product_files(last).provenance.read_text())
    produced = datetime.fromtimestamp(world.layout.product_files(last).provenance.stat().st_mtime, UTC)
    newest_end = max(datetime.fromisoformat(s["end"]) for s in record["input_times"].values())
    assert report["newest"]["latency_hours"] == round((produced - newest_end).total_seconds() / 3600, 2)
    assert record["input_times"]["SMAP"]["days"][-1] == last.isoformat()
    assert [f["day"] for f in report["failed"]] == [failed.isoformat()]
    assert [p["day"] for p in report["pending"]] == [last.isoformat()]
    assert report["notes"] == []


def test_a_changed_product_setting_makes_a_published_day_pending(world) -> None:
    last = world.days[-2]
    report = json.loads(_status(world, "--json", SMPROD_GAP_CORRECTION_KM="30").stdout)
    [pending] = report["pending"]
    assert pending["day"] == last.isoformat()
    assert any("settings: gap_correction_km 54" in r and "-> 30" in r for r in pending["reasons"]), pending
    assert any(world.final in r for r in pending["reasons"])  # and still the better IMERG run
