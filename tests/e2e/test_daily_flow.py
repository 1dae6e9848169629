"""The daily flow end to end on a small synthetic archive, with real PostgreSQL, MLflow and Prefect."""

from __future__ import annotations

import hashlib
import itertools
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
    _check_review_metrics(
        settings, small_world.database_url, [small_world.days[-3], small_world.days[-2], day]
    )


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


def _stored(url: str, day, variant: str, window: str = "30d") -> dict[str, float]:
    """The overall metrics PostgreSQL holds for version 1, ``day`` and ``window``."""
    query = sa.text(
        "SELECT n, r, bias, ubrmse FROM validation_metrics WHERE scope = 'overall' AND model_version = '1' "
        "AND window_name = :window AND variant = :variant AND computed_for = :day"
    )
    with db.make_engine(url).connect() as conn:
        row = conn.execute(query, {"window": window, "variant": variant, "day": day}).mappings().one()
    return {key: float(value) for key, value in row.items() if value is not None}


def _check_review_metrics(settings, database_url: str, days) -> None:
    """The daily flow logged each validated day's in situ skill onto v1's training run, one
    current point per day (step = the day), equal to the metrics in PostgreSQL; the runs table
    shows the newest day's; the training experiment opens on its runs."""
    from mlflow import MlflowClient

    from smprod.validation.report import review_step

    uri = settings.mlflow_tracking_uri.get_secret_value()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(settings.model_name, "1")
    run = client.get_run(version.run_id)
    assert "holdout_ubrmse" in run.data.metrics  # the training run itself, beside its own metrics
    for key, variant, metric in [
        ("insitu_ubrmse_30d", "corrected", "ubrmse"),
        ("insitu_r_30d", "corrected", "r"),
        ("insitu_n_30d", "corrected", "n"),
        ("insitu_ubrmse_30d_bilinear", "bilinear", "ubrmse"),
        ("insitu_ubrmse_30d_smap", "smap", "ubrmse"),
        ("insitu_ubrmse_30d_common", "corrected_common", "ubrmse"),  # on the days all three have
        ("insitu_ubrmse_30d_smap_common", "smap_common", "ubrmse"),
    ]:
        history = client.get_metric_history(run.info.run_id, key)
        assert {point.step for point in history} == {review_step(d) for d in days}, key
        for d in days:
            at_day = [point for point in history if point.step == review_step(d)]
            newest = max(at_day, key=lambda point: point.timestamp)
            assert newest.value == pytest.approx(_stored(database_url, d, variant)[metric], abs=1e-12), (
                key,
                d,
            )
            values = [point.value for point in sorted(at_day, key=lambda point: point.timestamp)]
            assert all(a != b for a, b in itertools.pairwise(values)), (key, d, values)  # changes only
        assert [len([p for p in history if p.step == review_step(d)]) for d in days[:-1]] == [1, 1]
        assert run.data.metrics[key] == pytest.approx(_stored(database_url, max(days), variant)[metric])
    assert version.tags["insitu.computed_for"] == max(days).isoformat()  # the newest, not the last run
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
