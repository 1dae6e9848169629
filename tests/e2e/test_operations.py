"""Unattended operation end to end: reprocessing, a missing granule in a backfill, a killed run.

Each test gets its own copy of the small synthetic archive (hard links: cheap, and deleting or
adding a file touches only the copy), its own work directory and its own fresh PostgreSQL
database; one champion model, trained once for the module, is shared. The retrain policy is
pushed out of the way (in situ threshold 1.0), so these tests exercise operations, not training.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from smprod import db
from smprod.config import load_settings
from smprod.layout import WorkLayout
from smprod.ops import runs
from tests.e2e.flow_worlds import flow_world, fresh_database, train_champion, wait_until_stage_done

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """A champion trained on the 14 days before the small world's last day (as tests/e2e/test_daily_flow)."""
    champion, result = train_champion(small_world, pg_server, tmp_path_factory, "ops")
    assert result.decision.promote  # the first model becomes champion
    return champion


@pytest.fixture
def world(small_world, champion, database_url, tmp_path) -> types.SimpleNamespace:
    return flow_world(small_world, champion, database_url, tmp_path)


def _provenance(world, day) -> dict:
    return json.loads(world.layout.product_files(day).provenance.read_text())


def _items(world) -> list[str]:
    return sorted(p.stem for p in world.layout.catalog.rglob("smprod-sm-1km-*.json"))


def _item_ids(*days) -> list[str]:
    return sorted(f"smprod-sm-1km-{d:%Y%m%d}" for d in days)


# --------------------------------------------------------------------------------- reprocess


def _add_imerg_final(archive: Path, day) -> str:
    """Write the IMERG Final granule of ``day`` (the Late field, 10% drier, as a calibrated run)."""
    import netCDF4

    from smprod.synthetic.formats import write_imerg_daily

    [late] = archive.rglob(f"3B-DAY-L.MS.MRG.3IMERG.{day:%Y%m%d}-*.nc4")
    with netCDF4.Dataset(late) as nc:
        values = np.asarray(nc["precipitation"][0], dtype=np.float32)  # (lon, lat south->north)
    name = late.name.replace("3B-DAY-L.", "3B-DAY.", 1)
    write_imerg_daily(late.parent / name, np.flipud(values.T) * 0.9, day, "Final")
    return name


def test_reprocess_reproduces_only_days_whose_inputs_improved(world, prefect_api):
    from flows.daily import produce_one_day, reprocess_updates

    late_day, final_day = world.days[-2], world.days[-4]  # IMERG Late on D / Final on D-2..D
    for day in (late_day, final_day):
        assert produce_one_day(world.settings, day) == "succeeded"
    assert _provenance(world, late_day)["precip_run"] == "Late"
    assert reprocess_updates(world.settings) == {}  # nothing better yet: nothing produced

    final = _add_imerg_final(world.archive, late_day)
    outcome = reprocess_updates(world.settings)

    assert list(outcome) == [str(late_day)]
    assert outcome[str(late_day)].startswith(f"succeeded: {final} replaces 3B-DAY-L.")
    record = _provenance(world, late_day)
    assert record["precip_run"] == "Final" and final in record["inputs"]["GPM_3IMERGDF"]
    late_runs = runs.runs_of(world.engine, late_day)
    assert [r.status for r in late_runs] == ["succeeded", "succeeded"]
    assert late_runs[0].input_key != late_runs[1].input_key
    assert [r.status for r in runs.runs_of(world.engine, final_day)] == ["succeeded"]
    assert _items(world) == _item_ids(late_day, final_day)
    assert reprocess_updates(world.settings, since=final_day) == {}  # now current


# ------------------------------------------------------------------------- missing granule


def test_backfill_goes_on_past_a_day_whose_smap_granule_is_missing(world, prefect_api):
    from flows.daily import backfill

    first, middle, last = world.days[-5], world.days[-4], world.days[-3]
    [smap] = world.archive.rglob(f"SMAP_L3_SM_P_{middle:%Y%m%d}_*.h5")
    smap.unlink()

    outcome = backfill(first, last, settings=world.settings)

    assert outcome[str(first)] == outcome[str(last)] == "succeeded"
    assert outcome[str(middle)].startswith("failed: ")
    assert f"no valid SPL3SMP granule for {middle}" in outcome[str(middle)]
    [failed] = runs.runs_of(world.engine, middle)
    assert failed.status == "failed" and failed.finished_at is not None
    assert f"MissingInputError: no valid SPL3SMP granule for {middle}" in failed.error
    assert set(failed.stage_seconds) == set()  # it stopped in ingest, before any stage finished
    assert _items(world) == _item_ids(first, last)
    assert not world.layout.product_files(middle).provenance.exists()


# -------------------------------------------------------------------------------- crash


def _env(world) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
    env.update({f"SMPROD_{k.upper()}": str(v) for k, v in world.overrides.items()})
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def _matchup_keys(world) -> tuple[int, int]:
    with world.engine.connect() as conn:
        total = conn.execute(sa.text("SELECT count(*) FROM matchups")).scalar()
        keys = "SELECT DISTINCT station_id, day, variant, model_version FROM matchups"
        distinct = conn.execute(sa.text(f"SELECT count(*) FROM ({keys}) k")).scalar()
    return int(total), int(distinct)


@pytest.mark.parametrize(
    ("after", "not_reached"),
    [("model", "publish"), ("produce", "validate")],  # killed in produce / after the files exist
)
def test_a_run_killed_mid_way_is_recovered_by_a_rerun(
    world, small_world, prefect_api, tmp_path, after, not_reached
):
    import rasterio

    from flows.daily import produce_one_day
    from smprod.product.read import product_problems

    day = world.days[-3]
    env = {**_env(world), "SMPROD_PREFECT_API_URL": prefect_api}
    with open(tmp_path / "run.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", "--day", str(day)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until_stage_done(world, day, after, proc)
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, like a dead machine
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    [killed] = runs.runs_of(world.engine, day)
    assert killed.status == "running" and after in killed.stage_seconds
    assert not_reached not in killed.stage_seconds  # it really died mid-way
    with runs.day_lock(world.engine, day, wait_s=30):  # the dead run's lock is gone
        pass

    assert produce_one_day(world.settings, day) == "succeeded"  # not "skipped": it never finished

    abandoned, rerun = runs.runs_of(world.engine, day)
    assert abandoned.status == "failed" and abandoned.error.startswith("abandoned")
    assert rerun.status == "succeeded" and set(rerun.stage_seconds) >= {"produce", "publish", "validate"}
    assert _items(world) == _item_ids(day)
    files = world.layout.product_files(day)
    assert product_problems(files, small_world.region) == []  # valid COGs, checksums as recorded
    with rasterio.open(files.soil_moisture) as src:  # every block decodes, the day has values
        assert np.isfinite(src.read(1)).mean() > 0.5
    assert sorted(p.name for p in files.provenance.parent.iterdir()) == sorted(
        p.name for p in (*files.cogs().values(), files.thumbnail, files.provenance)
    ), "leftover temporaries of the killed run"
    total, distinct = _matchup_keys(world)
    assert total == distinct > 0


# ------------------------------------------------------------------------------- scale-out


def _metric_rows(engine) -> list[tuple]:
    query = (
        "SELECT scope, scope_name, window_name, variant, model_version, computed_for, n, rmse "
        "FROM validation_metrics ORDER BY 1, 2, 3, 4, 5, 6"
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(query))]


def test_backfill_on_a_dask_cluster_equals_the_serial_backfill(world, prefect_api, pg_server, tmp_path):
    from distributed import LocalCluster

    from flows.daily import backfill

    days = world.days[-4:-1]
    # Both backfills ingest every day first, so gap filling sees the same neighbours whatever
    # order the days then run in on the cluster.
    serial_url = fresh_database(pg_server, "serial")
    db.upgrade(serial_url)
    serial = load_settings(**{**world.overrides, "workdir": tmp_path / "serial", "database_url": serial_url})
    assert set(backfill(days[0], days[-1], settings=serial).values()) == {"succeeded"}

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = load_settings(**{**world.overrides, "dask_address": cluster.scheduler_address})
        outcome = backfill(days[0], days[-1], settings=on_cluster)
        executed = cluster.get_client().run(lambda dask_worker: dask_worker.state.executed_count)
    assert set(outcome.values()) == {"succeeded"}
    assert sum(executed.values()) >= 2  # the days after the first (and their tiles) ran on the workers
    for day in days:
        assert _digests(world.layout, day) == _digests(WorkLayout(tmp_path / "serial"), day)
    # windows rescored in day order: the same rows, with the same values up to summation order
    cluster_rows, serial_rows = _metric_rows(world.engine), _metric_rows(db.make_engine(serial_url))
    assert [row[:-1] for row in cluster_rows] == [row[:-1] for row in serial_rows]
    cluster_rmse, serial_rmse = ([_or_nan(row[-1]) for row in rows] for rows in (cluster_rows, serial_rows))
    assert cluster_rmse == pytest.approx(serial_rmse, rel=1e-12, nan_ok=True)
    assert _items(world) == _item_ids(*days)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _digests(layout, day) -> dict[str, str]:
    import hashlib

    files = layout.product_files(day)
    return {key: hashlib.sha256(path.read_bytes()).hexdigest() for key, path in files.cogs().items()}
