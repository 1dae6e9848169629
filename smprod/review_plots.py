"""PNG plots a model reviewer looks at in the MLflow UI (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from smprod.features import PREDICTORS
from smprod.grid import Region
from smprod.models.base import Downscaler


def write_all(
    model: Downscaler, table: pd.DataFrame, holdout: pd.DataFrame, splits: dict, region: Region, out: Path
) -> Path:
    """Write every review plot into ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    importances(model, out / "feature_importances.png")
    shap_summary(model, holdout, out / "shap_summary.png")
    for label, (predicted, observed) in splits.items():
        scatter(predicted, observed, f"{label} split: predicted vs SMAP", out / f"scatter_{label}.png")
    residual_map(model, holdout, region, out / "residual_map_holdout_day.png")
    calibration(model, holdout, out / "uncertainty_calibration.png")
    return out


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


def shap_summary(model: Downscaler, holdout: pd.DataFrame, path: Path) -> None:
    """Mean |SHAP| per predictor: exact TreeSHAP via xgboost ``pred_contribs`` or shap's TreeExplainer."""
    sample = holdout[list(PREDICTORS)].head(300)
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
    ax.barh(np.array(PREDICTORS)[order], mean_abs[order])
    ax.set_xlabel("mean |SHAP value| (m3/m3)")
    ax.set_title("SHAP attributions on held-out days")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scatter(predicted: np.ndarray, observed: np.ndarray, title: str, path: Path) -> None:
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


def residual_map(model: Downscaler, holdout: pd.DataFrame, region: Region, path: Path) -> None:
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


def calibration(model: Downscaler, holdout: pd.DataFrame, path: Path) -> None:
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
