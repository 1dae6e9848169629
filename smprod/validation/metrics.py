"""Validation metrics of a product against in situ values (textbook formulas, pure numpy).

Definitions (Entekhabi et al. 2010, J. Hydrometeorol. 11, 832-840, "Performance metrics for soil
moisture retrievals"), with ``d = product - insitu`` over the N pairs where both are finite:

- bias   = mean(d)
- RMSE   = sqrt(mean(d^2))
- ubRMSE = sqrt(RMSE^2 - bias^2)  (= population standard deviation of d)
- MAE    = mean(|d|)
- R      = Pearson correlation, with the two-sided p-value of scipy.stats.pearsonr.

R is only reported as significant when p < 0.05 (Ma et al. 2025: "R only where p < 0.05").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

#: R is significant when its p-value is below this (Ma et al. 2025).
SIGNIFICANCE_LEVEL = 0.05
#: Pearson R needs at least 3 pairs to have a p-value (one degree of freedom left).
MIN_PAIRS_FOR_R = 3


@dataclass(frozen=True)
class Scores:
    """Skill of one product variant over one set of pairs; NaN where undefined (N too small)."""

    n: int
    r: float
    r_pvalue: float
    bias: float
    rmse: float
    ubrmse: float
    mae: float

    @property
    def r_significant(self) -> bool:
        """Whether R differs from 0 at the 5% level (False when R is undefined)."""
        return bool(np.isfinite(self.r_pvalue) and self.r_pvalue < SIGNIFICANCE_LEVEL)


def valid_pairs(product: ArrayLike, insitu: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The pairs where both values are finite, as float64 arrays.

    Raises:
        ValueError: if the two inputs do not have the same shape.
    """
    p = np.asarray(product, dtype=np.float64)
    o = np.asarray(insitu, dtype=np.float64)
    if p.shape != o.shape:
        raise ValueError(f"product shape {p.shape} differs from in situ shape {o.shape}")
    both = np.isfinite(p) & np.isfinite(o)
    return p[both], o[both]


def pearson(product: np.ndarray, insitu: np.ndarray) -> tuple[float, float]:
    """Pearson R and its two-sided p-value; NaN when N < 3 or either series is constant."""
    if product.size < MIN_PAIRS_FOR_R or np.ptp(product) == 0 or np.ptp(insitu) == 0:
        return math.nan, math.nan
    result = stats.pearsonr(product, insitu)
    return float(result.statistic), float(result.pvalue)


def score(product: ArrayLike, insitu: ArrayLike) -> Scores:
    """All metrics of ``product`` against ``insitu`` over their finite pairs."""
    p, o = valid_pairs(product, insitu)
    if p.size == 0:
        nan = math.nan
        return Scores(0, nan, nan, nan, nan, nan, nan)
    d = p - o
    bias = float(d.mean())
    rmse = float(np.sqrt(np.mean(d * d)))
    # max(..., 0): RMSE^2 - bias^2 can be -1e-18 from rounding when d is constant.
    ubrmse = math.sqrt(max(rmse * rmse - bias * bias, 0.0))
    r, pvalue = pearson(p, o)
    return Scores(int(p.size), r, pvalue, bias, rmse, ubrmse, float(np.abs(d).mean()))
