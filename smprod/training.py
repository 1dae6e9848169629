"""The training table (coarse-scale samples over a window of days) and the evaluation splits.

Samples are coarse cells of a day where SMAP and every predictor are valid (predictors were
aggregated from 1 km with the 50 % rule by ingest). Two evaluation splits, both seeded (Mao et
al. 2022): **temporal** (a random half of the days held out) and **spatial** (a random half of
the coarse cells held out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from smprod.errors import MissingInputError
from smprod.features import PREDICTORS, InputStore, coarse_features
from smprod.grid import Region
from smprod.validation.metrics import score


def training_table(days: Iterable[date], region: Region, store: InputStore) -> pd.DataFrame:
    """Complete coarse samples (predictors + ``sm``, ``day``, ``cell``) of the ingested ``days``."""
    frames = [coarse_features(day, region, store) for day in days if store.has(day)]
    if not frames:
        raise MissingInputError("no ingested day in the training window; run smprod ingest for those days")
    table = pd.concat(frames, ignore_index=True)
    complete = np.isfinite(table[[*PREDICTORS, "sm"]].to_numpy(np.float64)).all(axis=1)
    return table.loc[complete].reset_index(drop=True)


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
