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

import json
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from smprod.config import DEFAULT_SUBGRID_BLEND, NEAR_REAL_TIME, REANALYSIS
from smprod.errors import ModelError
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import InputStore
from smprod.inputs.window import format_days, training_days
from smprod.layout import WorkLayout
from smprod.mlops import registry
from smprod.mlops.pickles import moved_modules_importable
from smprod.mlops.registry import CHAMPION
from smprod.mlops.tracking import TRAINING_EXPERIMENT, ensure_experiment
from smprod.product.provenance import ModelInfo, training_of
from smprod.science.features import PREDICTORS, predictor_names
from smprod.science.models import Downscaler, load_model, make_model
from smprod.science.subgrid import SubgridModel
from smprod.science.training import (
    COARSE_FOOTPRINT_KM,
    SplitMetrics,
    WindowSamples,
    cell_mean_predictors,
    spatial_split,
    split_metrics,
    temporal_split,
    window_samples,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

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
    subgrid_blend: float = DEFAULT_SUBGRID_BLEND
    #: The ``use_sif`` setting: ``sif`` among the model's predictors.
    use_sif: bool = False

    @property
    def predictors(self) -> tuple[str, ...]:
        """The predictors the model is trained with (and predicts with, whatever comes later)."""
        return predictor_names(self.use_sif)

    @property
    def model_settings(self) -> tuple[int, int, float, tuple[str, ...]]:
        """:func:`fit_calibrated`'s arguments after the tables: seed, bands, blend, predictors."""
        return self.seed, self.terrain_bands, self.subgrid_blend, self.predictors


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
    kind: str,
    fit_table: pd.DataFrame,
    holdout: pd.DataFrame,
    seed: int = 0,
    terrain_bands: int = 1,
    subgrid_blend: float = DEFAULT_SUBGRID_BLEND,
    predictors: tuple[str, ...] = PREDICTORS,
) -> tuple[Downscaler, float]:
    """The model as production makes it: fitted on ``fit_table``, sigma calibrated on ``holdout``.

    With ``subgrid_blend`` > 0 the sub-grid anomaly model is fitted on both (it never enters the
    coarse predictions the holdout scores and calibrates; :mod:`smprod.science.subgrid`).
    ``predictors``: the model's list (:attr:`TrainingSpec.predictors`), recorded in the model.
    Returns the model and the one-sigma coverage reached on the holdout.
    """
    columns = list(predictors)
    model = make_model(kind, predictors, seed, terrain_bands)
    model.fit(fit_table[columns], fit_table["sm"].to_numpy(), cell_mean_predictors(fit_table, predictors))
    if subgrid_blend > 0:
        window = pd.concat([fit_table, holdout], ignore_index=True)
        model.subgrid = SubgridModel(subgrid_blend, seed).fit(window)
    return model, model.calibrate(holdout[columns], holdout["sm"].to_numpy())


@dataclass(frozen=True)
class _Logged:
    """A fitted model logged to MLflow: its run, its URI and what promotion compares."""

    model: Downscaler
    run_id: str
    model_uri: str
    holdout: pd.DataFrame
    holdout_score: SplitMetrics
    metrics: dict[str, float]
    notes: tuple[str, ...]


def _fit_and_log(
    spec: TrainingSpec,
    days: Sequence[date],
    store: InputStore,
    tracking_uri: str,
    artifact_root: str | None,
    tags: Mapping[str, str],
    keep: Collection[date] = (),
) -> _Logged:
    """Fit on the samples of ``days`` (``keep``: days never held out), log the run with ``tags``
    and the model to MLflow's training experiment."""
    footprint = COARSE_FOOTPRINT_KM[spec.coarse_product]
    samples = window_samples(days, spec.region, store, footprint, spec.predictors)
    fit_table, holdout = split_window(samples, keep)
    experiment = ensure_experiment(tracking_uri, TRAINING_EXPERIMENT, artifact_root)
    mlflow.set_tracking_uri(tracking_uri)
    run_name = f"{spec.kind}-{tags.get('training_mode', NEAR_REAL_TIME)}-{spec.end}"
    with (
        mlflow.start_run(experiment_id=experiment, run_name=run_name) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        metrics, split_results = _split_metrics(spec, fit_table)
        model, coverage = fit_calibrated(spec.kind, fit_table, holdout, *spec.model_settings)
        score = split_metrics(model.predict(holdout), holdout["sm"].to_numpy())
        metrics.update(score.as_dict("holdout"))
        metrics["uncertainty_coverage_1sigma"] = coverage
        notes = _log_run(spec, samples.table, metrics, model, holdout, split_results, Path(tmp), tags)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=DownscalerPyfunc(),
            artifacts={"downscaler": str(model.save(Path(tmp) / "downscaler"))},
            signature=mlflow.models.infer_signature(
                holdout[list(model.predictors)].head(50), model.predict(holdout.head(50))
            ),
            input_example=holdout[list(model.predictors)].head(5),
        )
        run_id = run.info.run_id
    return _Logged(model, run_id, info.model_uri, holdout, score, metrics, tuple(notes))


def train_and_register(
    spec: TrainingSpec, store: InputStore, tracking_uri: str, artifact_root: str | None, engine: Engine
) -> TrainingResult:
    """Train, log, register as challenger, compare with the champion and record the decision."""
    days = training_days(spec.end, spec.window_days)
    tags = {"training_mode": NEAR_REAL_TIME, "window_end": str(spec.end)}
    logged = _fit_and_log(spec, days, store, tracking_uri, artifact_root, tags)
    client = registry.client_for(tracking_uri)
    version = str(
        registry.register_challenger(client, spec.model_name, logged.model_uri, logged.run_id).version
    )
    decision = _compare_with_champion(
        spec, client, tracking_uri, logged.holdout, getattr(logged.holdout_score, spec.promotion_metric)
    )
    registry.apply_decision(client, engine, spec.model_name, version, decision, spec.end)
    return TrainingResult(version, logged.run_id, decision, logged.metrics, logged.notes)


@dataclass(frozen=True)
class ReanalysisModel:
    """A reanalysis model (trained for one block of days) and its identity for provenance."""

    model: Downscaler
    info: ModelInfo
    block: tuple[date, date]
    notes: tuple[str, ...] = ()


def train_reanalysis(
    spec: TrainingSpec,
    block: tuple[date, date],
    days: Sequence[date],
    store: InputStore,
    tracking_uri: str,
    artifact_root: str | None,
) -> ReanalysisModel:
    """Train the model of the reanalysis block ``block`` (first, last day) on ``days`` (its window,
    :func:`smprod.inputs.window.reanalysis_days`: days after the block included), log it to the
    training experiment (tags ``training_mode=reanalysis``, window and block) and register it as
    a new version of ``spec.model_name`` without any alias: it is never challenger or champion
    (:func:`smprod.mlops.registry.register_version`), and the daily run never loads it.

    The block's own days are fitted on, never held out: the holdout that calibrates the sigma
    is the last :data:`HOLDOUT_DAYS` days of the window outside the block (``docs/models.md``).

    Raises:
        ModelError: too few samples in the window (:func:`split_window`).
    """
    window = (min(days), max(days))
    tags = {
        "training_mode": REANALYSIS,
        "window_start": str(window[0]),
        "window_end": str(window[1]),
        "block_start": str(block[0]),
        "block_end": str(block[1]),
    }
    block_days = [day for day in days if block[0] <= day <= block[1]]
    logged = _fit_and_log(spec, days, store, tracking_uri, artifact_root, tags, keep=block_days)
    client = registry.client_for(tracking_uri)
    version = registry.register_version(client, spec.model_name, logged.model_uri, logged.run_id, tags)
    model = logged.model
    info = ModelInfo(
        spec.model_name, str(version.version), logged.run_id, model.kind, REANALYSIS, window, model.predictors
    )
    return ReanalysisModel(logged.model, info, block, logged.notes)


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
        model = make_model(spec.kind, spec.predictors, spec.seed, spec.terrain_bands).fit(
            table.loc[train, list(spec.predictors)], table.loc[train, "sm"].to_numpy()
        )
        predicted = model.predict(table.loc[test, list(spec.predictors)])
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


def reusable_reanalysis_version(
    layout: WorkLayout, block: Sequence[date], window: tuple[date, date]
) -> str | None:
    """The reanalysis version the published days of ``block`` were made with, when it was
    trained on ``window`` (first, last day) and every such day agrees on it; else None.

    A rerun of a reanalysis backfill (or one resumed after a stop) then makes the block with the
    same model, so the days already current are skipped instead of retrained and made again.
    """
    versions = set()
    for day in block:
        path = layout.product_files(day).provenance
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        mode, trained_on = training_of(record)
        if mode == REANALYSIS and trained_on == (str(window[0]), str(window[1])):
            versions.add(str(record["model"]["version"]))
    return versions.pop() if len(versions) == 1 else None


def load_champion(tracking_uri: str, name: str) -> tuple[Downscaler, ModelInfo, date | None]:
    """The champion's Downscaler, its identity for provenance, and the last day it was trained on.

    Raises:
        ModelError: when no champion is registered.
    """
    client = registry.client_for(tracking_uri)
    version = registry.version_by_alias(client, name, CHAMPION)
    if version is None:
        raise ModelError(f"model {name!r} has no champion: run smprod train (or the retrain flow)")
    model, info = _load(client, tracking_uri, name, str(version.version), str(version.run_id), f"@{CHAMPION}")
    return model, info, info.window[1] if info.window else None


def load_version(tracking_uri: str, name: str, version: str) -> tuple[Downscaler, ModelInfo]:
    """Version ``version`` of ``name`` (a reanalysis model) and its identity for provenance.

    Raises:
        ModelError: when there is no such version.
    """
    client = registry.client_for(tracking_uri)
    try:
        found = client.get_model_version(name, version)
    except mlflow.exceptions.MlflowException as err:
        raise ModelError(f"model {name!r} has no version {version}") from err
    return _load(client, tracking_uri, name, version, str(found.run_id), f"/{version}")


def _load(
    client: MlflowClient, tracking_uri: str, name: str, version: str, run_id: str, ref: str
) -> tuple[Downscaler, ModelInfo]:
    """Load ``models:/<name><ref>``; its training mode and window come from its run's tags."""
    mlflow.set_tracking_uri(tracking_uri)
    with moved_modules_importable():  # a model registered by an earlier smprod
        loaded = mlflow.pyfunc.load_model(f"models:/{name}{ref}")
    model: Downscaler = loaded.unwrap_python_model().model
    tags = client.get_run(run_id).data.tags
    start, end = tags.get("window_start"), tags.get("window_end")
    window = (date.fromisoformat(start), date.fromisoformat(end)) if start and end else None
    mode = tags.get("training_mode") or NEAR_REAL_TIME
    return model, ModelInfo(name, version, run_id, model.kind, mode, window, tuple(model.predictors))


def _run_params(spec: TrainingSpec, samples: int) -> dict[str, object]:
    """The MLflow parameters of a training run: the model settings and the sample counts."""
    return {
        "kind": spec.kind,
        "terrain_bands": spec.terrain_bands,
        "subgrid_blend": spec.subgrid_blend,
        "use_sif": spec.use_sif,
        "window_days": spec.window_days,
        "seed": spec.seed,
        "n_samples": samples,
        "holdout_days": HOLDOUT_DAYS,
        "promotion_metric": spec.promotion_metric,
    }


def _log_run(spec, table, metrics, model, holdout, split_results, tmp: Path, tags) -> list[str]:  # type: ignore[no-untyped-def]
    """Log parameters, tags (``tags`` over the defaults), metrics, the training table and the
    review plots; returns the notes of plots that were skipped."""
    from smprod.mlops import review_plots

    days = sorted(table["day"].unique())
    mlflow.log_params(_run_params(spec, len(table)))
    mlflow.set_tags(
        {
            "window_start": str(days[0]),
            "window_end": str(spec.end),
            "region_bbox": ",".join(map(str, spec.region.bbox)),
            "coarse_product": spec.coarse_product,
            "predictors": ",".join(model.predictors),
            "code_version": spec.code_version,
            **tags,
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
