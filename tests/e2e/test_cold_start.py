"""Cold start, as a new user meets it: work directories that have nothing but an archive.

``smprod train`` ingests the days of its window that are not ingested yet (a day without SMAP is
skipped with a note) and trains; a window with too few samples fails with one message naming
the days; ``smprod backfill`` on a new work directory trains first (retrain policy: no champion)
and produces every day; ``smprod validate`` without ``--bbox`` works on the region the work
directory recorded. Each command is a subprocess, like a user's; PostgreSQL and MLflow are the
session's real server, Prefect the test harness's server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from smprod import db
from smprod.layout import WorkLayout
from smprod.synthetic.archive import write_archive

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = (-100.0, 34.0, -98.0, 35.5)  # 5 x 6 cells of 36 km, about 16 complete samples a day
START = date(2024, 5, 1)
ARCHIVE_DAYS = 19  # 05-01..05-19
NO_SMAP_DAY = START + timedelta(days=9)  # 05-10: its SMAP granule is removed from the archive
WINDOW_DAYS = 12  # the window ending 05-17 is 05-06..05-17: samples from 05-07 (lagged SMAP)
#: on (05-10 aside), 5 days of them held out, about 80 samples to fit


def _day(offset: int) -> str:
    return str(START + timedelta(days=offset))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cold_start") / "archive"
    write_archive(root, START, ARCHIVE_DAYS, BBOX, 36, seed=7)
    (root / "smap" / f"SMAP_L3_SM_P_{NO_SMAP_DAY:%Y%m%d}_R19240_001.h5").unlink()
    return root


@pytest.fixture(scope="module")
def prefect_api() -> str:
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def _database(pg_server, prefix: str, migrate: bool) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    url = db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))
    if migrate:
        db.upgrade(url)
    return url


@pytest.fixture
def smprod(pg_server, prefect_api, archive, tmp_path):
    """Run ``smprod ARGS`` on a new work directory of this test (its own databases)."""
    workdir = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        SMPROD_DATABASE_URL=_database(pg_server, "cold", migrate=True),
        SMPROD_MLFLOW_TRACKING_URI=_database(pg_server, "cold_mlflow", migrate=False),
        SMPROD_PREFECT_API_URL=prefect_api,
        SMPROD_TRAINING_WINDOW_DAYS=str(WINDOW_DAYS),
        SMPROD_VALIDATION_MIN_N="1",
    )

    def run(*args: str, bbox: bool = True) -> subprocess.CompletedProcess[str]:
        region = [f"--bbox={','.join(map(str, BBOX))}"] if bbox else []
        command = [
            sys.executable,
            "-m",
            "flows.cli",
            *args,
            "--workdir",
            str(workdir),
            "--archive",
            str(archive),
        ]
        result = subprocess.run(
            [*command, *region],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    run.workdir = workdir  # type: ignore[attr-defined]
    return run


def test_train_on_a_new_work_directory_ingests_its_window(smprod):
    # A window before the archive's lagged SMAP: refused in one message that names the days.
    few = smprod("train", "--end", _day(1), "--window-days", "7")
    assert few.returncode == 1, few.stdout + few.stderr
    errors = [line for line in few.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, few.stderr
    assert errors[0].startswith(
        "error: too few samples to train on the window 2024-04-26..2024-05-02 (7 days)"
    )
    assert "2 days with inputs, 0 of them with complete coarse samples, 0 samples" in errors[0]
    assert "days missing: 2024-04-26..2024-04-30" in errors[0]
    assert "days without a complete sample (" in errors[0] and "2024-05-01..2024-05-02" in errors[0]

    trained = smprod("train", "--end", _day(16))
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert trained.stdout.strip().endswith("v1: no champion yet")
    log = " ".join((trained.stdout + trained.stderr).split())
    assert (
        "training window 2024-05-06..2024-05-17 (12 days): 0 already ingested, 11 ingested now, 1 skipped"
        in log
    )
    assert f"skipped, no SPL3SMP granule in the source: {NO_SMAP_DAY}" in log
    layout = WorkLayout(smprod.workdir)
    assert not (layout.inputs_dir(NO_SMAP_DAY) / "coarse.nc").exists()
    assert all((layout.inputs_dir(START + timedelta(days=k)) / "coarse.nc").exists() for k in (5, 16))


def test_backfill_on_a_new_work_directory_trains_first_and_produces_every_day(smprod):
    first, last = _day(17), _day(18)
    result = smprod("backfill", "--start", first, "--end", last)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2:] == [f"{first}: succeeded", f"{last}: succeeded"]
    log = " ".join((result.stdout + result.stderr).split())
    assert "retrain (no champion model is registered)" in log
    assert (
        "training window 2024-05-06..2024-05-17 (12 days): 0 already ingested, 11 ingested now, 1 skipped"
        in log
    )
    layout = WorkLayout(smprod.workdir)
    assert [str(day) for day in layout.product_days()] == [first, last]
    recorded = json.loads(layout.region_file.read_text())
    assert recorded["coarse_product"] == "SPL3SMP" and recorded["coarse_grid"]["nrows"] == 5

    # without --bbox the settings' default region (-100,34,-96,37) is not the work directory's:
    # validate takes the recorded region instead of failing on the products' grid
    validated = smprod("validate", "--no-mlflow", bbox=False)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f" .. {last}: 2 product days matched" in validated.stdout
