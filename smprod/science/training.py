"""The training table (coarse-scale samples over a window of days) and the evaluation splits.

Samples are coarse cells of a day where SMAP and every predictor are valid (predictors were
aggregated from 1 km with the 50 % rule by ingest).

**Footprint-matched predictors** (SPL3SMP_E). A SPL3SMP_E value is not the mean of its 9 km cell
but a radiometer footprint average of about 33 km (Backus-Gilbert interpolation; NSIDC SPL3SMP_E
user guide), so pairing it with the cell's own 9 km predictor means teaches the model a blurred
relation. The continuous predictors of the training table are therefore smoothed over the same
footprint (Gaussian, full width at half maximum :data:`COARSE_FOOTPRINT_KM`) before pairing; the
lags (SMAP_E themselves), calendar terms, position and land-cover class are not. At 1 km the
model sees the unsmoothed predictors. Measured on the suite's two 9 km tuning worlds
(docs/models.md): product / bilinear ubRMSE 0.931 -> 0.875 and 0.898 -> 0.845.

Two evaluation splits, both seeded (Mao et al. 2022): **temporal** (a random half of the days
held out) and **spatial** (a random half of the coarse cells held out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from smprod.errors import MissingInputError
from smprod.grids.ease import Region
from smprod.grids.regrid import FWHM_PER_SIGMA, gaussian_mean
from smprod.inputs.dayfiles import InputStore
from smprod.science.features import PREDICTORS, coarse_features
from smprod.science.subgrid import add_local_means
from smprod.validation.metrics import score

#: Full width at half maximum (km) of the footprint a coarse SMAP value averages: 0 for SPL3SMP
#: (one footprint per 36 km cell), about 33 km for SPL3SMP_E (NSIDC SPL3SMP_E user guide: "the
#: enhanced product ... has a native resolution of about 33 km", posted at 9 km).
COARSE_FOOTPRINT_KM = {"SPL3SMP": 0.0, "SPL3SMP_E": 33.0}
#: Predictors smoothed over the footprint: those aggregated from 1 km fields (not the SMAP lags,
#: calendar terms, position, or the land-cover class, a mode).
FOOTPRINT_SMOOTHED = (
    "lst_day", "lst_night", "ndvi", "evi", "albedo", "precip", "precip_3d",
    "elevation", "slope", "sand", "silt", "clay", "sif",
)  # fmt: skip
#: A smoothed value needs valid cells carrying at least this share of the footprint's weight.
FOOTPRINT_MIN_WEIGHT = 0.2
#: Suffix of the columns that keep a smoothed predictor's own cell means: the training range of
#: the out-of-range QA flag is judged on them (1 km values against smoothed ranges would flag
#: 40 % of the pixels of a 9 km world, against 4 %).
CELL_MEAN_SUFFIX = "_cell"


def footprint_smoothed(values: np.ndarray, footprint_km: float, cell_km: float) -> np.ndarray:
    """``values`` (a coarse grid, NaN = missing) averaged over a Gaussian footprint.

    Normalised convolution, so missing cells do not pull the average towards 0; NaN where the
    valid cells carry less than :data:`FOOTPRINT_MIN_WEIGHT` of the weight.
    """
    mean, weight = gaussian_mean(
        values, np.isfinite(values), footprint_km / FWHM_PER_SIGMA / cell_km, mode="nearest"
    )
    return np.where(weight >= FOOTPRINT_MIN_WEIGHT, mean, np.nan)


def _day_samples(
    day: date, region: Region, store: InputStore, footprint_km: float, predictors: tuple[str, ...]
) -> pd.DataFrame:
    frame = coarse_features(day, region, store, predictors)
    if footprint_km > 0:
        for name in (n for n in FOOTPRINT_SMOOTHED if n in predictors):
            frame[name + CELL_MEAN_SUFFIX] = frame[name]
            grid = frame[name].to_numpy().reshape(region.coarse.shape)
            frame[name] = footprint_smoothed(grid, footprint_km, region.coarse.km).ravel()
    return frame


#: Columns of a training table: the predictors, the SMAP target, the day and the coarse cell.
TABLE_COLUMNS = (*PREDICTORS, "sm", "day", "cell")


@dataclass(frozen=True)
class WindowSamples:
    """The complete coarse samples of a window of days, and which days gave none.

    Attributes:
        days: every day of the window, oldest first.
        table: complete samples of the ingested days (``TABLE_COLUMNS`` and the neighbourhood
            means of :func:`smprod.science.subgrid.add_local_means`; may be empty).
        missing: days without gridded inputs (not ingested).
        incomplete: ingested days without a single complete sample (a predictor or SMAP
            missing in every cell, e.g. the lagged SMAP of the first days of an archive).
    """

    days: tuple[date, ...]
    table: pd.DataFrame
    missing: tuple[date, ...]
    incomplete: tuple[date, ...]


def window_samples(
    days: Iterable[date],
    region: Region,
    store: InputStore,
    footprint_km: float = 0.0,
    predictors: tuple[str, ...] = PREDICTORS,
) -> WindowSamples:
    """The complete coarse samples of ``days`` (those ingested), with the days that gave none.

    ``footprint_km``, ``predictors``: as for :func:`training_table`.
    """
    days = tuple(days)
    ingested = [day for day in days if store.has(day)]
    frames = [_day_samples(day, region, store, footprint_km, predictors) for day in ingested]
    empty = pd.DataFrame(columns=[*predictors, "sm", "day", "cell"])
    table = pd.concat(frames, ignore_index=True) if frames else empty
    complete = np.isfinite(table[[*predictors, "sm"]].to_numpy(np.float64)).all(axis=1)
    table = add_local_means(table.loc[complete].reset_index(drop=True), region.coarse.shape, region.coarse.km)
    with_samples = set(table["day"])
    return WindowSamples(
        days=days,
        table=table,
        missing=tuple(day for day in days if day not in ingested),
        incomplete=tuple(day for day in ingested if day not in with_samples),
    )


def training_table(
    days: Iterable[date],
    region: Region,
    store: InputStore,
    footprint_km: float = 0.0,
    predictors: tuple[str, ...] = PREDICTORS,
) -> pd.DataFrame:
    """Complete coarse samples (``predictors`` + ``sm``, ``day``, ``cell``) of the ingested ``days``.

    ``footprint_km``: the coarse product's footprint (:data:`COARSE_FOOTPRINT_KM`); the
    continuous predictors are smoothed over it (module docstring). 0 pairs cell means as they are.
    ``predictors``: the model's (:func:`smprod.science.features.predictor_names`).

    Raises:
        MissingInputError: when none of ``days`` is ingested.
    """
    samples = window_samples(days, region, store, footprint_km, predictors)
    if len(samples.missing) == len(samples.days):
        raise MissingInputError("no ingested day in the training window; run smprod ingest for those days")
    return samples.table


def cell_mean_predictors(table: pd.DataFrame, predictors: tuple[str, ...] = PREDICTORS) -> pd.DataFrame:
    """The ``predictors`` of ``table`` with every footprint-smoothed one back at its cell means
    (the values whose range the 1 km values are compared with; the table itself when nothing
    was smoothed)."""
    out = table.loc[:, list(predictors)].copy()
    for name in FOOTPRINT_SMOOTHED:
        if name in out and name + CELL_MEAN_SUFFIX in table:
            out[name] = table[name + CELL_MEAN_SUFFIX]
    return out


def temporal_split(table: pd.DataFrame, seed: int = 0) -> tuple[pd.Index, pd.Index]:
    """(train, test) row indices: a random half of the days is held out."""
    days = np.array(sorted(table["day"].unique()))
    held = set(np.random.default_rng(seed).permutation(days)[: len(days) // 2])
    test = table["day"].isin(held)
    return table.index[~test], table.index[test]


def spatial_split(table: pd.DataFrame, seed: int = 0) -> tuple[pd.Index, pd.Index]:
    """(train, test) row indices: a random half of the coarse cells is held out."""
    cells = np.array(sorted(table["cell"].unique()))
    held = set(np.random.default_rng(seed + 1).permutation(cells)[: len(cells) // 2])
    test = table["cell"].isin(held)
    return table.index[~test], table.index[test]


@dataclass(frozen=True)
class SplitMetrics:
    """Test-set metrics of one split (m3/m3 except R, R2)."""

    n: int
    r2: float
    r: float
    rmse: float
    ubrmse: float
    bias: float

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}": float(v) for k, v in self.__dict__.items()}


def split_metrics(predicted: np.ndarray, observed: np.ndarray) -> SplitMetrics:
    """R2 (coefficient of determination), R, RMSE, ubRMSE and bias of a test set."""
    s = score(predicted, observed)
    residual = np.sum((observed - predicted) ** 2)
    total = np.sum((observed - observed.mean()) ** 2)
    return SplitMetrics(s.n, float(1 - residual / total), s.r, s.rmse, s.ubrmse, s.bias)
