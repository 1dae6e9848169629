"""The daily flow end to end on a small synthetic archive, with real PostgreSQL, MLflow and Prefect."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from prefect.testing.utilities import prefect_test_harness

from smprod import db
from smprod.config import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _digest(files) -> dict[str, str]:
    return {key: hashlib.sha256(path.read_bytes()).hexdigest() for key, path in files.cogs().items()}


def _counts(url: str) -> dict[str, int]:
    with db.make_engine(url).connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("granules", "matchups", "validation_metrics", "production_runs", "stations")
        }


def test_daily_produces_validates_and_reruns_idempotently(
    small_world, prefect_api, mlflow_tracking_uri, tmp_path
):
    from flows.daily import backfill, produce_one_day

    settings = load_settings(
        workdir=small_world.layout.root,
        archive=small_world.archive,
        bbox=",".join(map(str, (-98.0, 35.0, -96.8, 35.7))),
        database_url=small_world.database_url,
        mlflow_tracking_uri=mlflow_tracking_uri,
        training_window_days=14,
        model_name=f"e2e-{uuid.uuid4().hex[:6]}",
        validation_min_n=1,
    )
    day = small_world.days[-1]
    assert produce_one_day(settings, day) == "succeeded"  # no champion -> trains, then produces
    files = small_world.layout.product_files(day)
    first = _digest(files)
    counts = _counts(small_world.database_url)
    assert counts["matchups"] > 0 and counts["validation_metrics"] > 0
    provenance = files.provenance.read_text()
    assert '"version": "1"' in provenance and settings.model_name in provenance

    assert produce_one_day(settings, day) == "skipped"  # same inputs, same model
    kept_gaps = settings.model_copy(update={"gap_correction_km": 0.0})
    assert produce_one_day(kept_gaps, day) == "succeeded"  # another correction: not current
    files.provenance.unlink()  # force a full rerun: bytes and row counts must not change
    assert produce_one_day(settings, day) == "succeeded"
    assert _digest(files) == first
    after = _counts(small_world.database_url)
    assert {k: v for k, v in after.items() if k != "production_runs"} == {
        k: v for k, v in counts.items() if k != "production_runs"
    }

    outcome = backfill(small_world.days[-3], small_world.days[-2], settings=settings)
    assert set(outcome.values()) == {"succeeded"}
    _check_catalog(small_world.layout.catalog, [small_world.days[-3], small_world.days[-2], day])


def _check_catalog(root, days) -> None:
    import json

    import pystac

    items = sorted(root.rglob("smprod-sm-1km-*.json"))
    assert [p.stem for p in items] == [f"smprod-sm-1km-{d:%Y%m%d}" for d in sorted(days)]  # one item per day
    for path in items:
        item = pystac.Item.from_dict(json.loads(path.read_text()))
        assert item.properties["proj:code"] == "EPSG:6933"
        for asset in item.assets.values():
            assert (path.parent / asset.href).resolve().exists()
            assert asset.extra_fields["file:checksum"].startswith("1220")
    collection = json.loads((root / "smprod-sm-1km" / "collection.json").read_text())
    assert len([link for link in collection["links"] if link["rel"] == "item"]) == len(days)
    from catalog.validate import validate_catalog

    report = validate_catalog(root, checksums=True)  # the official schemas, offline
    assert report.ok, report.problems
