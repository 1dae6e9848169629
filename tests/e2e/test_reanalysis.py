"""Reanalysis mode end to end (issue 17, item 3): a tiny backfill on a new work directory, with
real PostgreSQL, MLflow and Prefect.

A block of three days is made with one model trained on the 12 days around it (days after the
block included, the window slid back to the archive's last day), registered without an alias;
provenance, item and collection say ``reanalysis`` and name the window; a rerun reuses the
model and skips the days. The daily run stays near-real-time (it trains and uses the champion),
and a near-real-time backfill of a reanalysis day makes it again: neither mode's day is
current for the other. A reanalysis version cannot be promoted to champion.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from prefect.testing.utilities import prefect_test_harness

from smprod.config import load_settings
from smprod.errors import ModelError
from smprod.layout import WorkLayout
from smprod.synthetic.archive import write_archive

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

BBOX = (-100.0, 34.0, -98.0, 35.5)  # 5 x 6 cells of 36 km, about 16 complete samples a day
START = date(2024, 5, 1)
ARCHIVE_DAYS = 18  # 05-01..05-18: samples from 05-07 (lagged SMAP) on
BLOCK = [date(2024, 5, 14), date(2024, 5, 15), date(2024, 5, 16)]
#: 12 days centred on the block would be 05-09..05-20; the archive ends 05-18, so it slides back
WINDOW = {"start": "2024-05-07", "end": "2024-05-18"}


@pytest.fixture(scope="module")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def settings(tmp_path, database_url, mlflow_tracking_uri):
    archive = tmp_path / "archive"
    write_archive(archive, START, ARCHIVE_DAYS, BBOX, 36, seed=7)
    return load_settings(
        workdir=tmp_path / "work",
        archive=archive,
        bbox=",".join(map(str, BBOX)),
        database_url=database_url,
        mlflow_tracking_uri=mlflow_tracking_uri,
        training_window_days=12,
        training_mode="reanalysis",
        reanalysis_block_days=3,
        model_name=f"reanalysis-{uuid.uuid4().hex[:6]}",
        validation_min_n=1,
    )


def _provenance(layout: WorkLayout, day: date) -> dict:
    return json.loads(layout.product_files(day).provenance.read_text())


def _item(layout: WorkLayout, day: date) -> dict:
    return json.loads(next(layout.catalog.rglob(f"smprod-sm-1km-{day:%Y%m%d}.json")).read_text())


def test_a_reanalysis_backfill_trains_around_its_block_and_the_daily_run_stays_near_real_time(
    settings, prefect_api, mlflow_tracking_uri
):
    from flows.daily import backfill, produce_one_day
    from smprod.mlops import registry

    layout = WorkLayout(settings.workdir)
    assert backfill(BLOCK[0], BLOCK[-1], settings=settings) == {str(d): "succeeded" for d in BLOCK}
    records = [_provenance(layout, day) for day in BLOCK]
    assert {r["model"]["version"] for r in records} == {"1"}  # one model for the block
    for record in records:
        assert record["parameters"]["training_mode"] == "reanalysis"
        assert record["model"]["training_mode"] == "reanalysis"
        assert record["model"]["window"] == WINDOW
        assert record["model"]["name"] == settings.model_name
        assert _item(layout, BLOCK[0])["properties"]["smprod:training_mode"] == "reanalysis"
    item = _item(layout, BLOCK[1])["properties"]
    assert item["smprod:training_window"] == [WINDOW["start"], WINDOW["end"]]
    collection = json.loads((layout.catalog / "smprod-sm-1km" / "collection.json").read_text())
    assert collection["summaries"]["smprod:training_mode"] == ["reanalysis"]

    client = registry.client_for(mlflow_tracking_uri)
    version = client.get_model_version(settings.model_name, "1")
    assert version.tags["training_mode"] == "reanalysis"
    run = client.get_run(version.run_id)
    assert run.data.tags["training_mode"] == "reanalysis"
    assert (run.data.tags["window_start"], run.data.tags["window_end"]) == (WINDOW["start"], WINDOW["end"])
    assert (run.data.tags["block_start"], run.data.tags["block_end"]) == ("2024-05-14", "2024-05-16")
    assert client.get_registered_model(settings.model_name).aliases == {}  # never champion
    with pytest.raises(ModelError, match="reanalysis model"):
        registry.promote_manual(client, None, settings.model_name, "1", "operator")  # type: ignore[arg-type]

    # a rerun: same window, so the same model; the days are current and skipped, nothing trained
    assert backfill(BLOCK[0], BLOCK[-1], settings=settings) == {str(d): "skipped" for d in BLOCK}
    assert len(client.search_model_versions(f"name = '{settings.model_name}'")) == 1

    # the daily run ignores the setting: no champion yet, so it trains one on the past only
    day = date(2024, 5, 17)
    assert produce_one_day(settings, day) == "succeeded"
    daily = _provenance(layout, day)
    assert daily["parameters"]["training_mode"] == "near-real-time"
    assert daily["model"]["version"] == "2" and daily["model"]["window"]["end"] == "2024-05-16"
    aliases = client.get_registered_model(settings.model_name).aliases
    assert {alias: str(number) for alias, number in aliases.items()} == {"champion": "2", "challenger": "2"}

    # a near-real-time backfill makes a reanalysis day again (not current for it), and back
    near_real_time = settings.model_copy(update={"training_mode": "near-real-time"})
    assert backfill(BLOCK[1], BLOCK[1], settings=near_real_time) == {str(BLOCK[1]): "succeeded"}
    assert _provenance(layout, BLOCK[1])["parameters"]["training_mode"] == "near-real-time"
    revised = _item(layout, BLOCK[1])["properties"]
    assert revised["smprod:training_mode"] == "near-real-time" and revised["smprod:revision"] == 2
    assert "training reanalysis -> near-real-time" in revised["smprod:reprocessing"]
    assert backfill(BLOCK[0], BLOCK[-1], settings=settings) == {
        # the champion's window ingested 05-05..05-06, days whose MODIS fields 05-14 and 05-16
        # read (gap filling reaches 05-06 from 05-14, the persistent anomalies reach 04-30 from
        # 05-16): their input keys changed, so they are made again (with the same model)
        str(BLOCK[0]): "succeeded",
        str(BLOCK[1]): "succeeded",  # made again with the block's reanalysis model, v1
        str(BLOCK[2]): "succeeded",
    }
    assert {_provenance(layout, day)["model"]["version"] for day in BLOCK} == {"1"}
    assert len(client.search_model_versions(f"name = '{settings.model_name}'")) == 2  # v1 reused

    # the operator's listing names the reanalysis version and its window; promote refuses it
    from typer.testing import CliRunner

    from flows.cli import app

    env = {
        "SMPROD_DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "SMPROD_MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "SMPROD_MODEL_NAME": settings.model_name,
        "SMPROD_WORKDIR": str(settings.workdir),
    }
    listing = CliRunner().invoke(app, ["model", "list"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "v1  aliases: -  run: " in listing.output
    assert f"reanalysis ({WINDOW['start']}..{WINDOW['end']})" in listing.output
    refused = CliRunner().invoke(app, ["model", "promote", "1"], env=env)
    assert isinstance(refused.exception, ModelError)
