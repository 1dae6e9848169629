"""Model lifecycle: train on a window, log everything a reviewer needs to MLflow, register, promote.

A training run logs parameters, coarse test metrics of the temporal and spatial splits, tags
(window, region, coarse product, predictors, code version), the training table as an MLflow
dataset input, a signature and input example, and review plots (feature importances, SHAP
summary, predicted-vs-SMAP per split, a residual map of one held-out day, uncertainty
calibration). The model becomes a new registered version with the alias ``challenger``; it is
promoted to ``champion`` if there is none or if it beats the champion on the same most recent
held-out days (:mod:`smprod.mlops.registry`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from smprod.errors import ModelError
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import InputStore
from smprod.inputs.window import format_days, training_days
from smprod.mlops import registry
from smprod.mlops.pickles import moved_modules_importable
from smprod.mlops.registry import CHAMPION
from smprod.mlops.tracking import TRAINING_EXPERIMENT, ensure_experiment
from smprod.product.provenance import ModelInfo
from smprod.science.features import PREDICTORS
from smprod.science.models import Downscaler, load_model, make_model
from smprod.science.training import (
    COARSE_FOOTPRINT_KM,
    WindowSamples,
    cell_mean_predictors,
    spatial_split,
    split_metrics,
    temporal_split,
    window_samples,
)

#: Most recent days kept out of fitting, on which challenger and champion are compared.
HOLDOUT_DAYS = 5
#: Fewest complete coarse samples to fit a model on, and to calibrate its sigma and compare it
#: with the champion on (below these, the forest and the 68 % quantile are noise).
MIN_FIT_SAMPLES = 60
MIN_HOLDOUT_SAMPLES = 10


class DownscalerPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """MLflow wrapper: ``predict`` gives the point prediction; the Downscaler is ``self.model``."""

    def load_context(self, context: Any) -> None:
        self.model = load_model(Path(context.artifacts["downscaler"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict(model_input)


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and decided (``notes``: review plots skipped, and why)."""

    version: str
    run_id: str
    decision: registry.PromotionDecision
    metrics: dict[str, float]
    notes: tuple[str, ...] = ()


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


def _holdout_split(table: pd.DataFrame, keep: Collection[date] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    kept = set(keep)
    recent = [day for day in sorted(table["day"].unique()) if day not in kept][-HOLDOUT_DAYS:]
    holdout = table[table["day"].isin(recent)]
    return table[~table["day"].isin(recent)].reset_index(drop=True), holdout


def _enough(fit_table: pd.DataFrame, holdout: pd.DataFrame) -> bool:
    return len(fit_table) >= MIN_FIT_SAMPLES and len(holdout) >= MIN_HOLDOUT_SAMPLES


def split_holdout(table: pd.DataFrame, keep: Collection[date] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to fit, rows of the last ``HOLDOUT_DAYS`` days): the holdout calibrates the sigma
    and decides promotion, so it is the most recent, like the days the model will be applied to.
    Days in ``keep`` are never held out (a reanalysis model is fitted on its block's own days;
    its holdout is the window's last days after the block).

    Raises:
        ModelError: fewer than ``MIN_FIT_SAMPLES`` rows to fit or ``MIN_HOLDOUT_SAMPLES`` held out.
    """
    fit_table, holdout = _holdout_split(table, keep)
    if not _enough(fit_table, holdout):
        raise ModelError(
            f"too few samples to train ({len(fit_table)} fit, {len(holdout)} held out; at least "
            f"{MIN_FIT_SAMPLES} and {MIN_HOLDOUT_SAMPLES} are needed): widen the window"
        )
    return fit_table, holdout


def split_window(samples: WindowSamples, keep: Collection[date] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`split_holdout` of a training window's samples, refused in one message when too few.

    Raises:
        ModelError: too few samples; the message gives the window, how many days and samples
            were found, which days are missing and what to do.
    """
    fit_table, holdout = _holdout_split(samples.table, keep)
    if not _enough(fit_table, holdout):
        raise ModelError(_too_few(samples, len(fit_table), len(holdout)))
    return fit_table, holdout


def _too_few(samples: WindowSamples, fit: int, held: int) -> str:
    days = samples.days
    found = len(days) - len(samples.missing)
    text = (
        f"too few samples to train on the window {days[0]}..{days[-1]} ({len(days)} days): "
        f"{found} days with inputs, {found - len(samples.incomplete)} of them with complete coarse "
        f"samples, {fit + held} samples ({fit} to fit, {held} held out on the last {HOLDOUT_DAYS} "
        f"days with samples; at least {MIN_FIT_SAMPLES} to fit and {MIN_HOLDOUT_SAMPLES} held out "
        f"are needed); days missing: {format_days(samples.missing)}"
    )
    if samples.incomplete:
        text += (
            f"; days without a complete sample (a predictor or SMAP missing in every cell, e.g. "
            f"lagged SMAP before the archive starts): {format_days(samples.incomplete)}"
        )
    return text + (
        ". Put the missing days' granules in the archive (or set earthdata), or lengthen the "
        "window (setting training_window_days, smprod train --window-days)"
    )


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
    days = training_days(spec.end, spec.window_days)
    samples = window_samples(days, spec.region, store, COARSE_FOOTPRINT_KM[spec.coarse_product])
    table = samples.table
    fit_table, holdout = split_window(samples)
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
        notes = _log_run(spec, table, metrics, model, holdout, split_results, Path(tmp))
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
    return TrainingResult(version, run_id, decision, metrics, tuple(notes))


def _split_metrics(spec: TrainingSpec, table: pd.DataFrame) -> tuple[dict[str, float], dict[str, tuple]]:
    """Test metrics and (predicted, observed) per evaluation split. A split with an empty half
    (one day to fit, one coarse cell) has no metrics and empty results (its plot is skipped with
    a note)."""
    metrics: dict[str, float] = {}
    results = {}
    for label, split in (("temporal", temporal_split), ("spatial", spatial_split)):
        train, test = split(table, spec.seed)
        if len(train) == 0 or len(test) == 0:
            results[label] = (np.empty(0), np.empty(0))
            continue
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
    with moved_modules_importable():  # a champion registered by an earlier smprod
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    model: Downscaler = loaded.unwrap_python_model().model
    run = client.get_run(str(version.run_id))
    end = run.data.tags.get("window_end")
    info = ModelInfo(name=name, version=str(version.version), run_id=str(version.run_id), kind=model.kind)
    return model, info, date.fromisoformat(end) if end else None


def _log_run(spec, table, metrics, model, holdout, split_results, tmp: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """Log parameters, tags, metrics, the training table and the review plots; returns the notes
    of plots that were skipped."""
    from smprod.mlops import review_plots

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
    plots = tmp / "plots"
    notes = review_plots.write_all(model, table, holdout, split_results, spec.region, plots)
    mlflow.log_artifacts(str(plots), artifact_path="review")
    if notes:
        mlflow.set_tag("review_notes", "; ".join(notes))
    return notes
