"""Training twice registers v1 (champion) and v2 (challenger) with logged review material."""

from __future__ import annotations

import pytest

from smprod import db
from smprod.inputs.dayfiles import InputStore
from smprod.mlops.lifecycle import TrainingSpec, load_champion, train_and_register
from smprod.mlops.registry import CHALLENGER, CHAMPION, client_for, promotion_history, version_by_alias

pytestmark = pytest.mark.integration


def test_train_twice_register_review_and_load_the_champion(small_world, mlflow_tracking_uri, tmp_path):
    engine = db.make_engine(small_world.database_url)
    store = InputStore(small_world.layout)
    spec = TrainingSpec(
        end=small_world.days[-1],
        window_days=14,
        region=small_world.region,
        coarse_product="SPL3SMP",
        kind="rf",
        model_name="smprod-life",
        code_version="test",
    )
    artifacts = (tmp_path / "artifacts").as_uri()
    first = train_and_register(spec, store, mlflow_tracking_uri, artifacts, engine)
    assert first.version == "1" and first.decision.promote and first.decision.reason == "no champion yet"
    for key in (
        "temporal_r2",
        "spatial_r2",
        "temporal_ubrmse",
        "holdout_ubrmse",
        "uncertainty_coverage_1sigma",
    ):
        assert key in first.metrics
    second = train_and_register(spec, store, mlflow_tracking_uri, artifacts, engine)
    client = client_for(mlflow_tracking_uri)
    assert second.version == "2"
    assert str(version_by_alias(client, "smprod-life", CHALLENGER).version) == "2"
    champion = "2" if second.decision.promote else "1"
    assert str(version_by_alias(client, "smprod-life", CHAMPION).version) == champion
    assert [row.version for row in promotion_history(engine, "smprod-life")] == ["1", "2"]

    run = client.get_run(first.run_id)
    assert run.data.tags["window_end"] == str(spec.end) and run.data.tags["coarse_product"] == "SPL3SMP"
    assert run.inputs.dataset_inputs, "the training table is logged as a dataset input"
    review = {a.path for a in client.list_artifacts(first.run_id, "review")}
    for plot in (
        "feature_importances.png",
        "shap_summary.png",
        "scatter_temporal.png",
        "scatter_spatial.png",
        "residual_map_holdout_day.png",
        "uncertainty_calibration.png",
    ):
        assert f"review/{plot}" in review

    model, info, trained_through = load_champion(mlflow_tracking_uri, "smprod-life")
    assert info.version == champion and trained_through == spec.end
    assert model.kind == "rf" and model.sigma_scale > 0
