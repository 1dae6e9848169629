"""Validation on a real PostgreSQL (and MLflow store in it): ingest, matchups, metrics, reruns.

Uses the real ISMN COSMOS ARM-1 station (Oklahoma, 2017-08..2018-08) and small published
product days written around it, on a 2x2-coarse-cell region.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
import xarray as xr
from mlflow import MlflowClient
from numpy.testing import assert_allclose

from smprod import db
from smprod.errors import DatabaseError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.readers.ismn import read_stm
from smprod.layout import WorkLayout
from smprod.validation import pipeline, report, stations

pytestmark = [pytest.mark.integration, pytest.mark.realdata]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = (-97.6, 36.5, -97.4, 36.7)
REGION = region_from_bbox(BBOX, 36)
FIRST, LAST = date(2018, 4, 20), date(2018, 6, 10)
TABLES = ("stations", "insitu_daily", "matchups", "validation_metrics")
README_QUERY = "SELECT * FROM validation_summary_30d ORDER BY scope, scope_name, variant"


def _write_tif(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "crs": "EPSG:6933", "nodata": np.nan,
        "transform": REGION.fine.transform, "height": data.shape[0], "width": data.shape[1],
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)


#: Two redundant sensors at one depth in the headerless CEOP-separate layout, far outside the
#: region, with ISMN's unknown-elevation placeholder -99.90.
USCRN_META = "USCRN      USCRN           Brewton-3-NNE     31.14690   -87.05110  -99.90    0.05    0.05"
USCRN_SENSORS = ("Stevens-Hydraprobe-II-Sdi-12_1_1", "Stevens-Hydraprobe-II-Sdi-12_2_1")


@pytest.fixture(scope="module")
def archive(realdata, tmp_path_factory) -> Path:
    """An archive with the real ISMN files under insitu/ (SMOSMANIA and SOILSCAPE have no G value),
    plus a deep sensor, a broken file and two CEOP-separate sensors at one depth."""
    root = tmp_path_factory.mktemp("archive")
    insitu = root / "insitu"
    insitu.mkdir()
    for source in (realdata / "ISMN" / "header_values").glob("*.stm"):
        (insitu / source.name).symlink_to(source)
    header = "XX NET Deep 36.6 -97.5 300.0 0.30 0.30 Probe\n2018/05/01 00:00 0.3 G M\n"
    (insitu / "NET_NET_Deep_sm_0.300000_0.300000_Probe_20180501_20180501.stm").write_text(header)
    (insitu / "broken.stm").write_text("this is not ISMN\n")
    for sensor in USCRN_SENSORS:
        lines = [f"2018/05/01 {h:02d}:00 2018/05/01 {h:02d}:00 {USCRN_META}   0.2100 G M" for h in (0, 1)]
        name = f"USCRN_USCRN_Brewton-3-NNE_sm_0.050000_0.050000_{sensor}_20180501_20180501.stm"
        (insitu / name).write_bytes("\r".join(lines).encode())
    return root


@pytest.fixture(scope="module")
def workdir(archive, tmp_path_factory) -> Path:
    """Published days FIRST..LAST: product = in situ + 0.01 + noise, SMAP = in situ + more noise."""
    root = tmp_path_factory.mktemp("work")
    layout = WorkLayout(root)
    cosmos = read_stm(next((archive / "insitu").glob("COSMOS_*.stm")))
    daily = stations.daily_means(cosmos)["sm"]
    rng = np.random.default_rng(11)
    for day in pipeline.days_between(FIRST, LAST):
        truth = float(daily.get(day, 0.25))
        files = layout.product_files(day)
        _write_tif(files.soil_moisture, np.full(REGION.fine.shape, truth + 0.01 + rng.normal(0, 0.01)))
        files.provenance.write_text(
            json.dumps({"model": {"name": "smprod-test", "version": "1", "run_id": "r1"}})
        )
        coarse = np.full(REGION.coarse.shape, truth + rng.normal(0, 0.04))
        layout.inputs_dir(day).mkdir(parents=True)
        ds = xr.Dataset({"sm": (("y", "x"), coarse)}, coords=REGION.coarse.coords())
        ds.to_netcdf(layout.inputs_dir(day) / "coarse.nc")
        rain = np.full(REGION.fine.shape, rng.exponential(2.0) if rng.random() < 0.3 else 0.0)
        xr.Dataset({"precip": (("y", "x"), rain)}, coords=REGION.fine.coords()).to_netcdf(
            layout.inputs_dir(day) / "fine.nc"
        )
    return root


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one() for t in TABLES}


def _run(engine, archive: Path, workdir: Path) -> pipeline.ValidationRun:
    files = stations.find_station_files(archive)
    return pipeline.run_validation(engine, WorkLayout(workdir), REGION, files, FIRST, LAST, (30, 90, 365), 10)


def test_validation_run_stores_everything_and_a_rerun_adds_no_row(database_url, archive, workdir):
    engine = db.make_engine(database_url)
    run = _run(engine, archive, workdir)
    assert run.ingest is not None and run.ingest.stations == 3  # COSMOS and the two USCRN sensors
    assert len(run.ingest.skipped_deep) == 1 and len(run.ingest.bad_files) == 1
    # The real SMOSMANIA and SOILSCAPE samples have no G value: skipped with a reason, no station.
    no_good = sorted(Path(entry.split(": ")[0]).name.split("_")[0] for entry in run.ingest.skipped_no_good)
    assert no_good == ["SMOSMANIA", "SOILSCAPE"]
    assert sorted(run.outside_region) == [f"USCRN/Brewton-3-NNE/{s}/0.05-0.05" for s in USCRN_SENSORS]
    assert len(run.days_matched) == (LAST - FIRST).days + 1
    first = _counts(engine)
    with engine.connect() as conn:
        variants = dict(conn.exec_driver_sql("SELECT variant, count(*) FROM matchups GROUP BY variant").all())
        windows = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT window_name FROM validation_metrics")}
        insitu = conn.exec_driver_sql(
            "SELECT d.day, d.sm FROM insitu_daily d JOIN stations s ON s.id = d.station_id "
            "WHERE s.network = 'COSMOS' ORDER BY d.day"
        ).all()
    cosmos = stations.daily_means(read_stm(next((archive / "insitu").glob("COSMOS_*.stm"))))
    assert [day for day, _ in insitu] == list(cosmos.index)
    assert_allclose([sm for _, sm in insitu], cosmos["sm"].to_numpy())
    # Every COSMOS day with good data in the range gives one corrected, smap and bilinear row.
    assert set(variants) == {"corrected", "smap", "bilinear"} and len(set(variants.values())) == 1
    assert windows == {"30d", "90d", "365d", "MAM", "JJA"}
    assert first["stations"] == 3 and first["validation_metrics"] == len(run.metrics)
    with engine.connect() as conn:
        uscrn = conn.exec_driver_sql(
            "SELECT sensor, elevation FROM stations WHERE network = 'USCRN' ORDER BY sensor"
        ).all()
    assert [tuple(r) for r in uscrn] == [(s, None) for s in USCRN_SENSORS]  # -99.90 stored as NULL
    with engine.connect() as conn:
        precip = conn.exec_driver_sql("SELECT count(*) FROM matchups WHERE precip > 0").scalar_one()
    assert precip > 0  # the day's 1 km precipitation travels with the matchups (for plots)

    _run(engine, archive, workdir)
    assert _counts(engine) == first
    _check_summary_view(engine)


def test_in_memory_day_with_uncorrected_output_is_matched_once(database_url, archive):
    engine = db.make_engine(database_url)
    stations.ingest(engine, stations.find_station_files(archive))
    day = date(2018, 6, 5)  # a COSMOS day with good data
    corrected = np.full(REGION.fine.shape, 0.2)
    fields = pipeline.DayFields(
        day, corrected, "2", "run-b", np.full(REGION.coarse.shape, 0.3), corrected - 0.05
    )
    assert pipeline.match_fields(engine, REGION, fields) == 5
    assert pipeline.match_fields(engine, REGION, fields) == 5
    with engine.connect() as conn:
        rows = dict(
            conn.exec_driver_sql("SELECT variant, product FROM matchups WHERE model_version = '2'").all()
        )
    variants = ("corrected", "uncorrected", "uncorrected_cell", "smap", "bilinear")
    assert_allclose([rows[v] for v in variants], [0.2, 0.15, 0.15, 0.3, 0.3])


def _check_summary_view(engine) -> None:
    """The README's query answers "last 30 days against stations, compared with SMAP"."""
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(sa.text(README_QUERY))]
    assert {(r["scope"], r["scope_name"], r["variant"]) for r in rows} == {
        (scope, name, variant)
        for scope, name in (("network", "COSMOS"), ("overall", "all"))
        for variant in ("bilinear", "corrected", "smap", "bilinear_common", "corrected_common", "smap_common")
    }
    # a _common row is set beside SMAP on the same days (validation_0003), the others beside SMAP's own
    by_variant = {r["variant"]: r for r in rows if r["scope"] == "overall" and r["model_version"] == "all"}
    assert_allclose(by_variant["corrected_common"]["smap_ubrmse"], by_variant["smap_common"]["ubrmse"])
    assert_allclose(by_variant["corrected"]["smap_ubrmse"], by_variant["smap"]["ubrmse"])
    corrected = next(r for r in rows if r["scope"] == "overall" and r["variant"] == "corrected")
    assert corrected["computed_for"] == LAST and corrected["window_start"] == LAST - timedelta(days=29)
    # the view may show the pooled row (model_version "all": every day as published) or v1
    assert corrected["model_version"] in ("all", "1") and corrected["n"] >= 10
    assert_allclose(corrected["ubrmse_minus_smap"], corrected["ubrmse"] - corrected["smap_ubrmse"])
    assert corrected["ubrmse"] < corrected["smap_ubrmse"]  # product noise 0.01 vs SMAP noise 0.04
    # 95 % intervals around every figure and the independent days behind them (validation_0002)
    for metric in ("r", "bias", "rmse", "ubrmse"):
        assert corrected[f"{metric}_ci_low"] <= corrected[metric] <= corrected[f"{metric}_ci_high"]
    assert corrected["smap_ubrmse_ci_high"] > corrected["ubrmse_ci_high"]  # the noisier SMAP
    assert 0 < corrected["n_eff"] <= corrected["n"]


def test_common_days_migration_goes_down_and_up_again(database_url, archive, workdir):
    from alembic import command

    engine = db.make_engine(database_url)
    _run(engine, archive, workdir)
    view = (
        "SELECT smap_ubrmse FROM validation_summary_30d "
        "WHERE variant = 'corrected_common' AND scope = 'overall'"
    )
    smap_common = (
        "SELECT ubrmse FROM validation_metrics WHERE variant = '{}' AND scope = 'overall' "
        "AND window_name = '30d' AND model_version = 'all' AND computed_for = (SELECT max(computed_for) "
        "FROM validation_metrics WHERE window_name = '30d')"
    )
    with engine.begin() as conn:  # this world's SMAP has no gap at its stations: make the two differ
        conn.exec_driver_sql(
            "UPDATE validation_metrics SET ubrmse = ubrmse + 0.01 WHERE variant = 'smap_common'"
        )
    command.downgrade(db.alembic_config(database_url), "validation_0002")
    with engine.connect() as conn:  # before: a _common row was set beside SMAP's own days
        before = set(conn.exec_driver_sql(view).scalars())
        smap = conn.exec_driver_sql(smap_common.format("smap")).scalar_one()
    assert before == {smap}
    db.upgrade(database_url)
    with engine.connect() as conn:
        after = set(conn.exec_driver_sql(view).scalars())
        common = conn.exec_driver_sql(smap_common.format("smap_common")).scalar_one()
    assert after == {common} and common != smap


def test_uncertainty_migration_goes_down_and_up_again(database_url, archive, workdir):
    from alembic import command

    engine = db.make_engine(database_url)
    _run(engine, archive, workdir)
    command.downgrade(db.alembic_config(database_url), "validation_0001")
    with engine.connect() as conn:
        columns = {
            r[0]
            for r in conn.exec_driver_sql("SELECT * FROM validation_summary_30d LIMIT 0").cursor.description
        }
        tables = set(conn.exec_driver_sql("SELECT tablename FROM pg_tables").scalars())
    assert "n_eff" not in columns and "smap_ubrmse" in columns and "validation_collocation" not in tables
    db.upgrade(database_url)
    run = _run(engine, archive, workdir)  # rows written before the upgrade get their intervals back
    with engine.connect() as conn:
        missing = conn.exec_driver_sql(
            "SELECT count(*) FROM validation_metrics WHERE n_eff IS NULL"
        ).scalar_one()
    assert run.metrics and missing == 0


def test_unreachable_database_fails_clearly(tmp_path, archive, workdir):
    engine = db.make_engine(f"postgresql+psycopg://nobody@/none?host={tmp_path}")
    with pytest.raises(DatabaseError, match="cannot reach the database"):
        _run(engine, archive, workdir)


def test_unmigrated_database_names_the_fix(pg_server, archive, workdir):
    name = f"bare_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    url = db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))
    with pytest.raises(DatabaseError, match="smprod db upgrade"):
        _run(db.make_engine(url), archive, workdir)


@pytest.fixture(scope="module")
def tracking_uri(pg_server) -> str:
    """A real MLflow tracking store in PostgreSQL, shared by the module (its schema takes seconds)."""
    name = f"mlflow_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))


def test_summary_is_logged_to_mlflow_on_the_model_version(
    database_url, archive, workdir, tracking_uri, tmp_path
):
    engine = db.make_engine(database_url)
    run = _run(engine, archive, workdir)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model("smprod-test")
    source = tmp_path / "model"
    source.mkdir()
    training = client.create_run(client.create_experiment(f"training-{uuid.uuid4().hex[:6]}")).info.run_id
    version = client.create_model_version("smprod-test", source.as_uri(), run_id=training).version
    assert str(version) == "1"
    plot = report.plot_metric_boxes(run.metrics, tmp_path / "boxes.png", "90d")
    for _ in range(2):  # a second `smprod validate` of the same days adds no review point
        run_id = report.log_summary(tracking_uri, "smprod-test", "1", run.metrics, LAST, [plot],
                                    artifact_location=(tmp_path / "artifacts").as_uri())  # fmt: skip
    logged = client.get_run(run_id)
    overall = next(
        r for r in run.metrics if (r["scope"], r["window_name"], r["variant"]) == ("overall", "30d", "smap")
    )
    assert_allclose(logged.data.metrics["insitu.30d.smap.ubrmse"], overall["ubrmse"])
    assert logged.data.tags["model_version"] == "1"
    assert [a.path for a in client.list_artifacts(run_id)] == ["boxes.png"]
    tags = client.get_model_version("smprod-test", "1").tags
    assert tags["insitu.validation_run_id"] == run_id
    assert_allclose(float(tags["insitu.30d.smap.ubrmse"]), overall["ubrmse"], atol=1e-4)
    # the review metrics on the version's training run (what the daily flow logs too)
    corrected = next(
        r
        for r in run.metrics
        if (r["scope"], r["window_name"], r["variant"]) == ("overall", "30d", "corrected")
    )
    reviewed = client.get_run(training).data.metrics
    assert_allclose(reviewed["insitu_ubrmse_30d"], corrected["ubrmse"])
    assert_allclose(reviewed["insitu_ubrmse_30d_smap"], overall["ubrmse"])
    assert reviewed["insitu_n_30d"] == corrected["n"]
    # and the three compared on the days all of them have a value
    common = {
        r["variant"]: r
        for r in run.metrics
        if (r["scope"], r["window_name"]) == ("overall", "30d") and r["variant"].endswith("_common")
    }
    assert set(common) == {"corrected_common", "bilinear_common", "smap_common"}
    assert len({r["n"] for r in common.values()}) == 1 and common["corrected_common"]["n"] <= corrected["n"]
    assert_allclose(reviewed["insitu_ubrmse_30d_common"], common["corrected_common"]["ubrmse"])
    assert_allclose(reviewed["insitu_ubrmse_30d_smap_common"], common["smap_common"]["ubrmse"])
    history = client.get_metric_history(training, "insitu_ubrmse_30d")
    assert [(point.step, point.timestamp) for point in history] == [
        (report.review_step(LAST), int(datetime.combine(LAST, time(), tzinfo=UTC).timestamp() * 1000))
    ]


def test_cli_validate_prints_the_table_and_writes_plots(
    database_url, archive, workdir, tracking_uri, artifacts_dir
):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SMPROD_DATABASE_URL": database_url,
           "SMPROD_MLFLOW_TRACKING_URI": tracking_uri, "SMPROD_MODEL_NAME": "smprod-test"}  # fmt: skip
    env.pop("SMPROD_CONFIG", None)
    bbox = ",".join(str(v) for v in BBOX)
    args = [
        sys.executable, "-m", "flows.cli", "validate", "--workdir", str(workdir), "--archive", str(archive),
        "--bbox", bbox, "--start", FIRST.isoformat(),
    ]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert f"validation {FIRST} .. {LAST}" in done.stdout  # --end defaults to the newest product
    assert "2 without a good (G) value" in done.stdout and "  no good value: " in done.stdout
    assert "30d    overall  all" in done.stdout and "mlflow: run" in done.stdout
    assert "Neff" in done.stdout and "95% CI" in done.stdout
    # one station and no model output before mass correction: nothing to collocate, and it says so
    assert "no triple collocation" in done.stdout
    plots = WorkLayout(workdir).validation_dir(LAST)
    assert sorted(p.name for p in plots.glob("*.png")) == [
        "station_metrics_boxplot.png",
        "station_timeseries.png",
    ]
    for plot in plots.glob("*.png"):  # kept for people to look at
        shutil.copyfile(plot, artifacts_dir / f"validation_{plot.name}")


def test_cli_validate_exits_3_when_the_database_is_down(archive, workdir, monkeypatch, capsys):
    from flows.cli import main

    monkeypatch.delenv("SMPROD_CONFIG", raising=False)
    monkeypatch.setenv("SMPROD_DATABASE_URL", "postgresql+psycopg://nobody@/none?host=/nonexistent")
    bbox = ",".join(str(v) for v in BBOX)
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--workdir", str(workdir), "--archive", str(archive), "--bbox", bbox])
    assert exit_info.value.code == 3  # the database is unavailable (flows/cli.py)
    assert "cannot reach the database" in capsys.readouterr().err
