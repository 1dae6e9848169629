"""Model lifecycle: train on a window, log everything a reviewer needs to MLflow, register, promote.

A training run logs parameters, coarse test metrics of the temporal and spatial splits, tags
(window, region, coarse product, predictors, code version), the training table as an MLflow
dataset input, a signature and input example, and review plots (feature importances, SHAP
summary, predicted-vs-SMAP per split, a residual map of one held-out day, uncertainty
calibration). The model becomes a new registered version with the alias ``challenger``; it is
promoted to ``champion`` if there is none or if it beats the champion on the same most recent
held-out days (:mod:`smprod.registry`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from smprod import registry
from smprod.errors import ModelError
from smprod.features import PREDICTORS, InputStore
from smprod.grid import Region
from smprod.models.base import Downscaler, load_model, make_model
from smprod.provenance import ModelInfo
from smprod.registry import CHAMPION
from smprod.tracking import TRAINING_EXPERIMENT, ensure_experiment
from smprod.training import (
    COARSE_FOOTPRINT_KM,
    cell_mean_predictors,
    spatial_split,
    split_metrics,
    temporal_split,
    training_table,
)

#: Most recent days kept out of fitting, on which challenger and champion are compared.
HOLDOUT_DAYS = 5


class DownscalerPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """MLflow wrapper: ``predict`` gives the point prediction; the Downscaler is ``self.model``."""

    def load_context(self, context: Any) -> None:
        self.model = load_model(Path(context.artifacts["downscaler"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict(model_input)


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and decided."""

    version: str
    run_id: str
    decision: registry.PromotionDecision
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainingSpec:
    """Everything that defines a training run (from the settings, passed in by the flow)."""

    end: date
    window_days: int
    region: Region
    coarse_product: str
    kind: str
    model_name: str
    promotion_metric: str = "ubrmse"
    seed: int = 0
    code_version: str = "unknown"
    terrain_bands: int = 1


def split_holdout(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to fit, rows of the last ``HOLDOUT_DAYS`` days): the holdout calibrates the sigma
    and decides promotion, so it is the most recent, like the days the model will be applied to."""
    recent = sorted(table["day"].unique())[-HOLDOUT_DAYS:]
    holdout = table[table["day"].isin(recent)]
    fit_table = table[~table["day"].isin(recent)].reset_index(drop=True)
    if len(holdout) < 10 or len(fit_table) < 60:
        raise ModelError(
            f"too few samples to train ({len(fit_table)} fit, {len(holdout)} held out): widen the window"
        )
    return fit_table, holdout


def fit_calibrated(
    kind: str, fit_table: pd.DataFrame, holdout: pd.DataFrame, seed: int = 0, terrain_bands: int = 1
) -> tuple[Downscaler, float]:
    """The model as production makes it: fitted on ``fit_table``, sigma calibrated on ``holdout``.

    Returns the model and the one-sigma coverage reached on the holdout.
    """
    model = make_model(kind, PREDICTORS, seed, terrain_bands)
    model.fit(fit_table[list(PREDICTORS)], fit_table["sm"].to_numpy(), cell_mean_predictors(fit_table))
    return model, model.calibrate(holdout[list(PREDICTORS)], holdout["sm"].to_numpy())


def train_and_register(
    spec: TrainingSpec, store: InputStore, tracking_uri: str, artifact_root: str | None, engine: Engine
) -> TrainingResult:
    """Train, log, register as challenger, compare with the champion and record the decision."""
    days = [spec.end - timedelta(days=k) for k in range(spec.window_days - 1, -1, -1)]
    table = training_table(days, spec.region, store, COARSE_FOOTPRINT_KM[spec.coarse_product])
    fit_table, holdout = split_holdout(table)
    experiment = ensure_experiment(tracking_uri, TRAINING_EXPERIMENT, artifact_root)
    mlflow.set_tracking_uri(tracking_uri)
    with (
        mlflow.start_run(experiment_id=experiment, run_name=f"{spec.kind}-{spec.end}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        metrics, split_results = _split_metrics(spec, fit_table)
        model, coverage = fit_calibrated(spec.kind, fit_table, holdout, spec.seed, spec.terrain_bands)
        challenger_score = split_metrics(model.predict(holdout), holdout["sm"].to_numpy())
        metrics.update(challenger_score.as_dict("holdout"))
        metrics["uncertainty_coverage_1sigma"] = coverage
        _log_run(spec, table, metrics, model, holdout, split_results, Path(tmp))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=DownscalerPyfunc(),
            artifacts={"downscaler": str(model.save(Path(tmp) / "downscaler"))},
            signature=mlflow.models.infer_signature(
                holdout[list(PREDICTORS)].head(50), model.predict(holdout.head(50))
            ),
            input_example=holdout[list(PREDICTORS)].head(5),
        )
        run_id = run.info.run_id
    client = registry.client_for(tracking_uri)
    version = str(registry.register_challenger(client, spec.model_name, info.model_uri, run_id).version)
    decision = _compare_with_champion(
        spec, client, tracking_uri, holdout, getattr(challenger_score, spec.promotion_metric)
    )
    registry.apply_decision(client, engine, spec.model_name, version, decision, spec.end)
    return TrainingResult(version, run_id, decision, metrics)


def _split_metrics(spec: TrainingSpec, table: pd.DataFrame) -> tuple[dict[str, float], dict[str, tuple]]:
    metrics: dict[str, float] = {}
    results = {}
    for label, split in (("temporal", temporal_split), ("spatial", spatial_split)):
        train, test = split(table, spec.seed)
        model = make_model(spec.kind, PREDICTORS, spec.seed, spec.terrain_bands).fit(
            table.loc[train, list(PREDICTORS)], table.loc[train, "sm"].to_numpy()
        )
        predicted = model.predict(table.loc[test, list(PREDICTORS)])
        observed = table.loc[test, "sm"].to_numpy()
        metrics.update(split_metrics(predicted, observed).as_dict(label))
        results[label] = (predicted, observed)
    return metrics, results


def _compare_with_champion(
    spec, client, tracking_uri, holdout, challenger_value
) -> registry.PromotionDecision:  # type: ignore[no-untyped-def]
    champion = registry.version_by_alias(client, spec.model_name, CHAMPION)
    if champion is None:
        return registry.decide_promotion(spec.promotion_metric, challenger_value, None, None)
    model = load_champion(tracking_uri, spec.model_name)[0]
    score = split_metrics(model.predict(holdout), holdout["sm"].to_numpy())
    return registry.decide_promotion(
        spec.promotion_metric, challenger_value, getattr(score, spec.promotion_metric), str(champion.version)
    )


def load_champion(tracking_uri: str, name: str) -> tuple[Downscaler, ModelInfo, date | None]:
    """The champion's Downscaler, its identity for provenance, and the last day it was trained on.

    Raises:
        ModelError: when no champion is registered.
    """
    client = registry.client_for(tracking_uri)
    version = registry.version_by_alias(client, name, CHAMPION)
    if version is None:
        raise ModelError(f"model {name!r} has no champion: run smprod train (or the retrain flow)")
    mlflow.set_tracking_uri(tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    model: Downscaler = loaded.unwrap_python_model().model
    run = client.get_run(str(version.run_id))
    end = run.data.tags.get("window_end")
    info = ModelInfo(name=name, version=str(version.version), run_id=str(version.run_id), kind=model.kind)
    return model, info, date.fromisoformat(end) if end else None


def _log_run(spec, table, metrics, model, holdout, split_results, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    from smprod import review_plots

    days = sorted(table["day"].unique())
    mlflow.log_params(
        {
            "kind": spec.kind,
            "terrain_bands": spec.terrain_bands,
            "window_days": spec.window_days,
            "seed": spec.seed,
            "n_samples": len(table),
            "holdout_days": HOLDOUT_DAYS,
            "promotion_metric": spec.promotion_metric,
        }
    )
    mlflow.set_tags(
        {
            "window_start": str(days[0]),
            "window_end": str(spec.end),
            "region_bbox": ",".join(map(str, spec.region.bbox)),
            "coarse_product": spec.coarse_product,
            "predictors": ",".join(PREDICTORS),
            "code_version": spec.code_version,
        }
    )
    mlflow.log_metrics(metrics)
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        table.assign(day=table["day"].astype(str)), name="coarse-training-table", targets="sm"
    )
    mlflow.log_input(dataset, context="training")
    plots = review_plots.write_all(model, table, holdout, split_results, spec.region, tmp / "plots")
    mlflow.log_artifacts(str(plots), artifact_path="review")
