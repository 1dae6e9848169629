"""PNG plots a model reviewer looks at in the MLflow UI (matplotlib, Agg backend).

A plot whose data is empty (a split without test samples, a held-out day without samples) is
not drawn: its function returns a note saying which plot was skipped and why, and
:func:`write_all` returns the notes (training logs them and tags the MLflow run).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from smprod.grids.ease import Region
from smprod.science.models import Downscaler


def write_all(
    model: Downscaler, table: pd.DataFrame, holdout: pd.DataFrame, splits: dict, region: Region, out: Path
) -> list[str]:
    """Write every review plot into ``out``.

    Args:
        splits: split label -> (predicted, observed) of its test set (may be empty).

    Returns:
        One note per plot that was skipped because its data was empty.
    """
    out.mkdir(parents=True, exist_ok=True)
    importances(model, out / "feature_importances.png")
    notes = [shap_summary(model, holdout, out / "shap_summary.png")]
    for label, (predicted, observed) in splits.items():
        title = f"{label} split: predicted vs SMAP"
        notes.append(scatter(predicted, observed, title, out / f"scatter_{label}.png"))
    notes.append(residual_map(model, holdout, region, out / "residual_map_holdout_day.png"))
    notes.append(calibration(model, holdout, out / "uncertainty_calibration.png"))
    return [note for note in notes if note is not None]


def importances(model: Downscaler, path: Path) -> None:
    values = model.feature_importances()
    names = sorted(values, key=lambda name: values[name])
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh(names, [values[n] for n in names])
    ax.set_xlabel("importance (normalised)")
    ax.set_title(f"{model.kind}: feature importances")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def shap_summary(model: Downscaler, holdout: pd.DataFrame, path: Path) -> str | None:
    """Mean |SHAP| per predictor: exact TreeSHAP via xgboost ``pred_contribs`` or shap's TreeExplainer."""
    sample = holdout[list(model.predictors)].head(300)
    if sample.empty:
        return f"{path.name} skipped: no held-out sample"
    if model.kind == "xgb":
        import xgboost

        booster = model.estimators[0].get_booster()
        contributions = booster.predict(xgboost.DMatrix(sample), pred_contribs=True)[:, :-1]
    else:
        import shap

        tree_model = model.estimators[0] if model.kind == "rf" else model.estimators[0].estimators_[1]
        contributions = shap.TreeExplainer(tree_model).shap_values(sample.to_numpy(), check_additivity=False)
    mean_abs = np.abs(contributions).mean(axis=0)
    order = np.argsort(mean_abs)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh(np.array(model.predictors)[order], mean_abs[order])
    ax.set_xlabel("mean |SHAP value| (m3/m3)")
    ax.set_title("SHAP attributions on held-out days")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def scatter(predicted: np.ndarray, observed: np.ndarray, title: str, path: Path) -> str | None:
    """Predicted against SMAP with the 1:1 line; a note instead when there is no finite pair."""
    predicted, observed = np.asarray(predicted, float), np.asarray(observed, float)
    if not (np.isfinite(predicted) & np.isfinite(observed)).any():
        return f"{path.name} skipped: the {title.split(':')[0]} has no test sample"
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(observed, predicted, s=4, alpha=0.4)
    low, high = float(np.nanmin(observed)), float(np.nanmax(observed))
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set_xlabel("SMAP (m3/m3)")
    ax.set_ylabel("predicted (m3/m3)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def residual_map(model: Downscaler, holdout: pd.DataFrame, region: Region, path: Path) -> str | None:
    """Coarse residuals (predicted - SMAP) of the last held-out day; a note when there is none."""
    if holdout.empty:
        return f"{path.name} skipped: no held-out day with samples"
    day = sorted(holdout["day"].unique())[-1]
    rows = holdout[holdout["day"] == day]
    grid = np.full(region.coarse.shape, np.nan)
    grid.ravel()[rows["cell"].to_numpy()] = model.predict(rows) - rows["sm"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(grid, cmap="RdBu", vmin=-0.08, vmax=0.08)
    fig.colorbar(image, ax=ax, label="predicted - SMAP (m3/m3)")
    ax.set_title(f"coarse residuals on held-out day {day}")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def calibration(model: Downscaler, holdout: pd.DataFrame, path: Path) -> str | None:
    """Fraction of held-out residuals within k sigma against the Gaussian's; a note when empty."""
    if holdout.empty:
        return f"{path.name} skipped: no held-out sample"
    mean, sigma = model.predict_with_uncertainty(holdout)
    ratio = np.abs(holdout["sm"].to_numpy() - mean) / np.maximum(sigma, 1e-9)
    k = np.linspace(0, 3, 31)
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(k, [(ratio <= x).mean() for x in k], label="held-out residuals")
    ax.plot(k, 2 * norm.cdf(k) - 1, "k--", label="Gaussian")
    ax.set_xlabel("multiples of sigma")
    ax.set_ylabel("fraction within")
    ax.set_title(f"uncertainty calibration (1-sigma coverage {(ratio <= 1).mean():.2f})")
    ax.legend()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None
