"""Triple collocation: the random error of the product, of SMAP and of the stations, without a truth.

Error model (Stoffelen 1998, J. Geophys. Res. 103, 7755-7766) for the three systems
i = product, SMAP, in situ at one station and day, with T the soil moisture they all measure:

    X_i = a_i + b_i T + e_i

The assumptions, which the estimates are only as good as:

1. linear relation: each system is a linear function of the same T, with a_i and b_i constant
   over the pooled stations and days (non-linear relations bias the estimates; Zwieback et al.
   2016, J. Hydrometeorol. 17, 1725-1743);
2. independent errors: the e_i have zero mean and are uncorrelated with T and with each other
   (by the formulas below, a positive error covariance between two systems makes TC
   under-estimate their errors and over-estimate the third's; Yilmaz & Crow 2014,
   J. Hydrometeorol. 15, 1293-1302, measured the effect on real products);
3. stationarity: a_i, b_i and the error variances do not change within the window.

Then the covariances Q of the three series give, in covariance notation (McColl et al. 2014,
Geophys. Res. Lett. 41, 6229-6236; Gruber et al. 2016, Int. J. Appl. Earth Obs. Geoinf. 45,
200-211), for i, j, k a permutation of the three:

    sigma_i^2 = Q_ii - Q_ij Q_ik / Q_jk      (error variance of i, in i's own units)
    rho_i^2   = Q_ij Q_ik / (Q_ii Q_jk)      (squared correlation of i with T)

This is the covariance form of the three-cornered hat Ma et al. 2025 apply to gridded products:
the hat, sigma_i^2 = (V_ij + V_ik - V_jk) / 2 with V the variances of pairwise differences, is
the special case b_i = b_j = b_k; TC also absorbs different dynamic ranges.

How it is applied here (:func:`collocation_rows`), so that the assumptions hold as far as they
can for a 1 km product, a SMAP cell and a point:

- T is the signal all three share: soil moisture at the scale of SMAP's cell (the coarsest
  system). The stations' error therefore includes their point-to-cell representativeness error,
  not only sensor noise (Miralles et al. 2010, J. Hydrometeorol. 11, 1423-1429; Gruber et al.
  2016);
- the product enters at that scale too: the model output before mass correction averaged over
  the station's SMAP cell (variant ``uncorrected_cell``). Its 1 km value cannot be used: where
  it resolves the station's departure from the cell mean, that departure is in both its error
  and the station's (their errors correlated at 0.15-0.44 on synthetic worlds, and TC then put
  the stations' error at 0.003 instead of 0.019). The published ``corrected`` product cannot be
  used at any scale: mass conservation sets its cell mean to the day's SMAP value, so its errors
  are SMAP's (correlation 0.87; TC then put the stations' error at 0.029 instead of 0.016), and
  neither can ``bilinear`` (SMAP resampled). So the product error here is the model's random
  error at SMAP's scale, before mass correction replaces its cell mean by SMAP's; the published
  product's error at that scale is SMAP's, by construction;
- the model output is made from lagged SMAP and MODIS, so its errors are independent of the
  day's SMAP retrieval error only if SMAP's errors do not persist from day to day after the
  station means are removed, and only on days the model was not trained on (a backfilled day
  inside its model's training window is in sample and shares SMAP's noise);
- each station's mean of each system over the window is removed before pooling: static offsets
  (a sensor's calibration, SMAP's static cell bias) would otherwise count as error and a_i would
  differ between stations. The estimates are of random, temporal error;
- per network and overall, only with at least :data:`MIN_TRIPLETS` triplets; a station enters
  with at least ``validation_min_n`` triplets (its mean must be estimable);
- 95 % intervals by the moving-block bootstrap over days (:mod:`smprod.validation.resampling`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from smprod.errors import MetricInputError
from smprod.validation.resampling import (
    block_bootstrap_sums,
    block_length,
    daily_means,
    day_index,
    figure_rng,
    lag1_autocorrelation,
    one_blas_thread,
    percentile_interval,
)
from smprod.validation.skill import OVERALL, in_window, matchup_frame, version_frames
from smprod.validation.windows import Window, windows_for

#: Fewest triplets for a TC estimate. Its sampling error shrinks as 1/sqrt(N) (Zwieback et al.
#: 2012, Nonlin. Processes Geophys. 19, 69-80); 100 is the floor soil-moisture TC studies use
#: (Dorigo et al. 2010, Hydrol. Earth Syst. Sci. 14, 2605-2616). At 100 independent triplets a
#: station error of 0.016 m3/m3 is known to about +-0.003 (one standard deviation, Monte Carlo
#: with errors of the synthetic world's sizes); the stored interval says how well each is known.
MIN_TRIPLETS = 100
#: The three systems, in the order of every array here: the model output, SMAP, the stations.
SYSTEMS = ("product", "smap", "insitu")
#: Variant collocated as the product (see the module docstring for why not ``corrected`` or the
#: 1 km ``uncorrected``).
PRODUCT_VARIANT = "uncorrected_cell"
#: Variant collocated as SMAP.
SMAP_VARIANT = "smap"
#: The (i, j, k) permutations of :func:`error_variances_from_sums`: system i, its two partners.
_PARTNERS = ((0, 1, 2), (1, 0, 2), (2, 0, 1))


@dataclass(frozen=True)
class Collocation:
    """TC estimates for three collocated series; NaN where undefined.

    Attributes:
        n: number of triplets.
        error_variance: sigma_i^2 of product, SMAP, in situ (own units squared); negative when
            sampling noise exceeds a small error (then ``error_sd`` is NaN).
        error_sd: sigma_i, m3/m3 in each system's own units.
        rho: correlation of each system with the common signal T.
    """

    n: int
    error_variance: tuple[float, float, float]
    error_sd: tuple[float, float, float]
    rho: tuple[float, float, float]


def collocation_sums(index: NDArray[np.int64], x: NDArray, y: NDArray, z: NDArray, n_days: int) -> NDArray:
    """Per-day sums the covariances are made of, shape (n_days, 10).

    Columns: count, sum x, y, z, sum x^2, y^2, z^2, sum xy, xz, yz; the series are centred on
    their means first, so the sums of squares do not cancel catastrophically.
    """
    xc, yc, zc = (v - v.mean() for v in (x, y, z))
    columns = (None, xc, yc, zc, xc * xc, yc * yc, zc * zc, xc * yc, xc * zc, yc * zc)
    return np.stack([np.bincount(index, weights=w, minlength=n_days) for w in columns], axis=-1)


def covariances_from_sums(sums: NDArray) -> NDArray:
    """The 3x3 sample covariance matrices (ddof 1) of :func:`collocation_sums` totals, shape (..., 3, 3)."""
    s = np.asarray(sums, dtype=np.float64)
    n = s[..., 0]
    mean = s[..., 1:4] / n[..., None]
    square = np.empty((*s.shape[:-1], 3, 3))
    square[..., 0, 0], square[..., 1, 1], square[..., 2, 2] = s[..., 4], s[..., 5], s[..., 6]
    square[..., 0, 1] = square[..., 1, 0] = s[..., 7]
    square[..., 0, 2] = square[..., 2, 0] = s[..., 8]
    square[..., 1, 2] = square[..., 2, 1] = s[..., 9]
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = square - n[..., None, None] * mean[..., :, None] * mean[..., None, :]
        return centred / (n - 1.0)[..., None, None]


def error_variances_from_sums(sums: NDArray) -> tuple[NDArray, NDArray]:
    """sigma_i^2 and rho_i^2 of the three systems (last axis 3) from sums (McColl et al. 2014).

    NaN where the two partners of a system do not covary positively (Q_jk <= 0: no common signal
    to scale by) or fewer than 3 triplets.
    """
    q = covariances_from_sums(sums)
    n = np.asarray(sums, dtype=np.float64)[..., 0]
    variances, rho2 = [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, j, k in _PARTNERS:
            signal = q[..., i, j] * q[..., i, k] / q[..., j, k]
            usable = (q[..., j, k] > 0) & (n >= 3)
            variances.append(np.where(usable, q[..., i, i] - signal, np.nan))
            rho2.append(np.where(usable, signal / q[..., i, i], np.nan))
    return np.stack(variances, axis=-1), np.stack(rho2, axis=-1)


def _as_series(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    arrays = [np.asarray(v, dtype=np.float64) for v in (x, y, z)]
    if not arrays[0].shape == arrays[1].shape == arrays[2].shape or arrays[0].ndim != 1:
        shapes = [a.shape for a in arrays]
        raise MetricInputError(f"triple collocation needs three 1-D series of one length, got {shapes}")
    finite = np.isfinite(arrays[0]) & np.isfinite(arrays[1]) & np.isfinite(arrays[2])
    return arrays[0][finite], arrays[1][finite], arrays[2][finite]


def _sd(variance: float) -> float:
    return math.sqrt(variance) if variance >= 0 else math.nan


def triple_collocation(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> Collocation:
    """TC error estimates of three collocated series (triplets with a NaN are dropped).

    Under the assumptions of the module docstring (linear relation to one signal, independent
    errors, stationarity); nothing here can check them.

    Raises:
        MetricInputError: if the series are not three 1-D arrays of one length.
    """
    xs, ys, zs = _as_series(x, y, z)
    if xs.size < 3:
        nan3 = (math.nan, math.nan, math.nan)
        return Collocation(int(xs.size), nan3, nan3, nan3)
    sums = collocation_sums(np.zeros(xs.size, np.int64), xs, ys, zs, 1).sum(axis=0)
    variances, rho2 = error_variances_from_sums(sums)
    v = [float(value) for value in variances]
    rho = [math.sqrt(float(r)) if r >= 0 else math.nan for r in rho2]
    return Collocation(
        int(xs.size), (v[0], v[1], v[2]), (_sd(v[0]), _sd(v[1]), _sd(v[2])), (rho[0], rho[1], rho[2])
    )


def error_sd_intervals(
    day_numbers: ArrayLike, x: ArrayLike, y: ArrayLike, z: ArrayLike, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """95 % intervals of the three error sds by the moving-block bootstrap over days.

    Percentiles of the bootstrapped variances, then their square roots (a negative bound is 0).
    The block length follows the largest lag-1 autocorrelation of the daily mean pairwise
    differences, which hold the errors (the common signal cancels in them).
    """
    days = np.asarray(day_numbers, dtype=np.int64)
    arrays = [np.asarray(v, dtype=np.float64) for v in (x, y, z)]
    if any(a.shape != days.shape for a in arrays):
        raise MetricInputError(f"{days.shape} days for series of shapes {[a.shape for a in arrays]}")
    keep = np.isfinite(arrays[0]) & np.isfinite(arrays[1]) & np.isfinite(arrays[2])
    days, xs, ys, zs = days[keep], arrays[0][keep], arrays[1][keep], arrays[2][keep]
    index, n_days = day_index(days)
    r1 = max(
        lag1_autocorrelation(*daily_means(index, a - b, n_days)) for a, b in ((xs, ys), (xs, zs), (ys, zs))
    )
    sums = collocation_sums(index, xs, ys, zs, n_days)
    variances, _ = error_variances_from_sums(block_bootstrap_sums(sums, block_length(n_days, r1), rng))
    out = []
    for system in range(3):
        low, high = percentile_interval(variances[:, system])
        out.append(
            (math.sqrt(max(low, 0.0)), math.sqrt(max(high, 0.0))) if math.isfinite(low) else (low, high)
        )
    return out


def triplets(frame: pd.DataFrame, product_variant: str = PRODUCT_VARIANT) -> pd.DataFrame:
    """Station-days where the product, SMAP and the station all have a value.

    Args:
        frame: matchups of one model version (or of each day's latest one): one row per
            station, day and variant, as :func:`smprod.validation.skill.version_frames` gives,
            with ``day_number`` (:func:`smprod.validation.skill.matchup_frame`).
        product_variant: the variant collocated as the product.

    Returns:
        Columns ``station_key``, ``network``, ``day``, ``day_number`` and :data:`SYSTEMS`.
    """
    keys = ["station_key", "network", "day", "day_number"]
    wanted = frame[frame["variant"].isin([product_variant, SMAP_VARIANT])]
    if set(wanted["variant"]) != {product_variant, SMAP_VARIANT}:
        return pd.DataFrame(columns=[*keys, *SYSTEMS])
    wide = wanted.set_index([*keys, "variant"])["product"].unstack("variant")
    wide["insitu"] = wanted.groupby(keys)["insitu"].first()
    named = wide.rename(columns={product_variant: "product", SMAP_VARIANT: "smap"})
    return named[list(SYSTEMS)].dropna().reset_index()


def station_anomalies(collocated: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """Each system minus its station's mean, for stations with at least ``min_n`` triplets.

    Args:
        collocated: what :func:`triplets` returns.
        min_n: fewest triplets for a station's means (setting ``validation_min_n``).
    """
    counts = collocated.groupby("station_key")["day"].transform("size")
    kept = collocated[counts >= min_n]
    means = kept.groupby("station_key")[list(SYSTEMS)].transform("mean")
    return kept.assign(**{system: kept[system] - means[system] for system in SYSTEMS})


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _collocation_row(
    scope: str, name: str, window: Window, version: str, anomalies: pd.DataFrame
) -> dict[str, Any] | None:
    if len(anomalies) < MIN_TRIPLETS:
        return None
    product, smap, insitu = (anomalies[system].to_numpy() for system in SYSTEMS)
    estimate = triple_collocation(product, smap, insitu)
    rng = figure_rng("collocation", scope, name, window.label, window.end, PRODUCT_VARIANT)
    intervals = error_sd_intervals(anomalies["day_number"], product, smap, insitu, rng)
    row: dict[str, Any] = {
        "scope": scope, "scope_name": name, "window_name": window.label,
        "product_variant": PRODUCT_VARIANT, "model_version": version, "computed_for": window.end,
        "window_start": window.start, "window_end": window.end,
        "n_triplets": estimate.n, "n_stations": int(anomalies["station_key"].nunique()),
    }  # fmt: skip
    for system, sd, (low, high) in zip(SYSTEMS, estimate.error_sd, intervals, strict=True):
        row[f"{system}_error"] = _clean(sd)
        row[f"{system}_error_ci_low"], row[f"{system}_error_ci_high"] = _clean(low), _clean(high)
    return row


def collocation_rows(
    matchups: pd.DataFrame, computed_for: date, window_days: tuple[int, ...], min_n: int
) -> list[dict[str, Any]]:
    """TC rows (for ``validation_collocation``) per network and overall, for windows ending on a day.

    Same windows and model-version grouping as :func:`smprod.validation.skill.compute_skill`;
    a network or the overall pool without :data:`MIN_TRIPLETS` triplets gets no row.

    Raises:
        MetricInputError: if ``matchups`` lacks a matchup column.
    """
    frame = matchup_frame(matchups)
    rows = []
    with one_blas_thread():
        for window in windows_for(computed_for, window_days):
            for versions, part in version_frames(in_window(frame, window)):
                anomalies = station_anomalies(triplets(part), min_n)
                pools = [("network", str(n), group) for n, group in anomalies.groupby("network", sort=True)]
                for scope, name, pool in [*pools, ("overall", OVERALL, anomalies)]:
                    row = _collocation_row(scope, name, window, versions[0], pool)
                    rows.extend([] if row is None else [{**row, "model_version": v} for v in versions])
    return rows
