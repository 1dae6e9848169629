"""Validation metrics of a product against in situ values (textbook formulas, pure numpy).

Definitions (Entekhabi et al. 2010, J. Hydrometeorol. 11, 832-840, "Performance metrics for soil
moisture retrievals"), with ``d = product - insitu`` over the N pairs where both are finite:

- bias   = mean(d)
- RMSE   = sqrt(mean(d^2))
- ubRMSE = sqrt(RMSE^2 - bias^2)  (= population standard deviation of d)
- MAE    = mean(|d|)
- R      = Pearson correlation, with the two-sided p-value of scipy.stats.pearsonr.

R is only reported as significant when p < 0.05 (Ma et al. 2025: "R only where p < 0.05").

Uncertainty (95 % intervals, :class:`Intervals`), over days because daily errors are
autocorrelated (:mod:`smprod.validation.resampling`):

- bias, RMSE and ubRMSE: percentile intervals of a moving-block bootstrap over days; pooled rows
  (network, overall) resample whole days, so the stations of one day stay together and errors
  shared by a region's stations on a day (a storm) are not counted as independent;
- R of one station: Fisher z, tanh(atanh(R) +- z_0.975 / sqrt(N_R - 3)) (Fisher 1921,
  Metron 1, 3-32), with N_R the pairs shrunk by both series' persistence (Bretherton et al. 1999);
  the normal approximation it rests on holds for one station's pairs, not for pooled ones, whose
  R mixes stations with different means, so pooled R gets the bootstrap interval instead;
- ``n_eff``: the independent days behind the figure, N (1 - r1) / (1 + r1) with r1 the lag-1
  autocorrelation of the daily errors d; for a pooled row the sum over its stations (stations
  taken as independent of each other, an upper bound when their errors are spatially
  correlated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from smprod.errors import MetricInputError
from smprod.validation.resampling import (
    CONFIDENCE,
    block_bootstrap_sums,
    block_length,
    daily_means,
    day_index,
    effective_days,
    effective_days_for_correlation,
    lag1_autocorrelation,
    percentile_interval,
)

#: R is significant when its p-value is below this (Ma et al. 2025).
SIGNIFICANCE_LEVEL = 0.05
#: Pearson R needs at least 3 pairs to have a p-value (one degree of freedom left).
MIN_PAIRS_FOR_R = 3
#: The Fisher z standard error 1 / sqrt(N - 3) needs more than 3 independent pairs (Fisher 1921).
FISHER_MIN_PAIRS = 3


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
        MetricInputError: if the two inputs do not have the same shape.
    """
    p = np.asarray(product, dtype=np.float64)
    o = np.asarray(insitu, dtype=np.float64)
    if p.shape != o.shape:
        raise MetricInputError(f"product shape {p.shape} differs from in situ shape {o.shape}")
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


NAN_INTERVAL = (math.nan, math.nan)


@dataclass(frozen=True)
class Intervals:
    """95 % confidence intervals of a row's metrics and the independent days behind them.

    Every interval is (low, high), (NaN, NaN) where undefined (too few days, constant series).
    """

    n_eff: float
    r: tuple[float, float] = NAN_INTERVAL
    bias: tuple[float, float] = NAN_INTERVAL
    rmse: tuple[float, float] = NAN_INTERVAL
    ubrmse: tuple[float, float] = NAN_INTERVAL


def dated_pairs(
    day_numbers: ArrayLike, product: ArrayLike, insitu: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The (day, product, in situ) triples where both values are finite.

    Raises:
        MetricInputError: if the days do not have the shape of the values.
    """
    days = np.asarray(day_numbers, dtype=np.int64)
    p = np.asarray(product, dtype=np.float64)
    o = np.asarray(insitu, dtype=np.float64)
    if not days.shape == p.shape == o.shape:
        raise MetricInputError(
            f"days {days.shape}, product {p.shape} and in situ {o.shape} values must have one shape"
        )
    both = np.isfinite(p) & np.isfinite(o)
    return days[both], p[both], o[both]


def day_sums(index: NDArray[np.int64], product: NDArray, insitu: NDArray, n_days: int) -> NDArray:
    """Per-day sums every metric is a function of, shape (n_days, 8).

    Columns: count, sum d, sum d^2, sum p', sum o', sum p'^2, sum o'^2, sum p'o' with
    d = p - o and p', o' the values minus their overall mean (centred, so that the sums of
    squares do not cancel catastrophically). Summing rows over drawn days gives a replicate.
    """
    d = product - insitu
    pc, oc = product - product.mean(), insitu - insitu.mean()
    columns = (None, d, d * d, pc, oc, pc * pc, oc * oc, pc * oc)
    return np.stack([np.bincount(index, weights=w, minlength=n_days) for w in columns], axis=-1)


def metrics_from_sums(sums: NDArray) -> dict[str, NDArray]:
    """R, bias, RMSE and ubRMSE from sums of :func:`day_sums` (last axis), NaN where undefined."""
    n, d, dd, p, o, pp, oo, po = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = d / n
        mean_square = dd / n
        var_p, var_o = pp - p * p / n, oo - o * o / n
        r = (po - p * o / n) / np.sqrt(var_p * var_o)
        defined = (n >= MIN_PAIRS_FOR_R) & (var_p > 0) & (var_o > 0)
        return {
            "r": np.where(defined, np.clip(r, -1.0, 1.0), np.nan),
            "bias": bias,
            "rmse": np.sqrt(mean_square),
            "ubrmse": np.sqrt(np.maximum(mean_square - bias * bias, 0.0)),
        }


def fisher_interval(r: float, n_eff: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of a correlation by Fisher's z: tanh(atanh(r) +- z_(1+c)/2 / sqrt(n_eff - 3)).

    Returns:
        (low, high), or (NaN, NaN) when R is undefined, |R| = 1 or n_eff <= 3.
    """
    if not math.isfinite(r) or abs(r) >= 1.0 or not n_eff > FISHER_MIN_PAIRS:
        return NAN_INTERVAL
    half = NormalDist().inv_cdf(0.5 + confidence / 2.0) / math.sqrt(n_eff - FISHER_MIN_PAIRS)
    z = math.atanh(r)
    return math.tanh(z - half), math.tanh(z + half)


def bootstrap_intervals(
    days: NDArray[np.int64], product: NDArray, insitu: NDArray, r1: float, rng: np.random.Generator
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of R, bias, RMSE and ubRMSE by the moving-block bootstrap over days.

    Args:
        days: integer day of each pair (several pairs may share a day: they are drawn together).
        product, insitu: the finite pairs.
        r1: lag-1 autocorrelation that sets the block length (0: single days, the iid bootstrap).
        rng: the figure's random stream.
    """
    index, n_days = day_index(days)
    sums = day_sums(index, product, insitu, n_days)
    replicated = metrics_from_sums(block_bootstrap_sums(sums, block_length(n_days, r1), rng))
    return {name: percentile_interval(values) for name, values in replicated.items()}


def station_intervals(
    day_numbers: ArrayLike, product: ArrayLike, insitu: ArrayLike, rng: np.random.Generator
) -> Intervals:
    """Intervals for one station's daily pairs (one pair per day).

    Bias, RMSE and ubRMSE: moving-block bootstrap over days, the block length from the lag-1
    autocorrelation of d; R: Fisher z with Bretherton's N_R; ``n_eff`` from d's persistence.
    """
    days, p, o = dated_pairs(day_numbers, product, insitu)
    if p.size < MIN_PAIRS_FOR_R:
        return Intervals(float(p.size))
    r1 = lag1_autocorrelation(days, p - o)
    boot = bootstrap_intervals(days, p, o, r1, rng)
    n_r = effective_days_for_correlation(p.size, lag1_autocorrelation(days, p), lag1_autocorrelation(days, o))
    r = float(metrics_from_sums(day_sums(np.zeros(p.size, np.int64), p, o, 1)[0])["r"])
    return Intervals(
        effective_days(p.size, r1), fisher_interval(r, n_r), boot["bias"], boot["rmse"], boot["ubrmse"]
    )


def pooled_intervals(
    day_numbers: ArrayLike, product: ArrayLike, insitu: ArrayLike, n_eff: float, rng: np.random.Generator
) -> Intervals:
    """Intervals for pairs pooled over stations: every metric by the day-block bootstrap.

    Args:
        day_numbers, product, insitu: one entry per station-day pair.
        n_eff: the independent station-days (the sum of the stations' ``n_eff``), stored as is.
        rng: the row's stream (:func:`~smprod.validation.resampling.figure_rng`).
    """
    days, p, o = dated_pairs(day_numbers, product, insitu)
    if p.size < MIN_PAIRS_FOR_R:
        return Intervals(n_eff)
    index, n_days = day_index(days)
    present, mean_error = daily_means(index, p - o, n_days)
    boot = bootstrap_intervals(days, p, o, lag1_autocorrelation(present, mean_error), rng)
    return Intervals(n_eff, boot["r"], boot["bias"], boot["rmse"], boot["ubrmse"])
