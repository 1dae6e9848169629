"""Confidence intervals of R, bias, RMSE and ubRMSE: formulas, coverage over seeded repeats, width.

The data-generating process has a known answer: truth T is AR(1) (soil moisture is persistent),
the station reads T + white noise, the product T + a bias + AR(1) error (persistent misses).
Then bias, RMSE = sqrt(bias^2 + s_e^2 + s_o^2), ubRMSE = sqrt(s_e^2 + s_o^2) and
R = s_T^2 / sqrt((s_T^2 + s_e^2)(s_T^2 + s_o^2)) are the population values an interval should
contain in about 95 % of repeats.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.validation.metrics import (
    bootstrap_intervals,
    day_sums,
    fisher_interval,
    metrics_from_sums,
    pooled_intervals,
    score,
    station_intervals,
)
from smprod.validation.resampling import day_index, effective_days, figure_rng
from tests.unit.validation.test_resampling import ar1

SD_TRUTH, SD_PRODUCT_ERROR, SD_INSITU_ERROR, BIAS = 0.06, 0.03, 0.01, 0.02
TRUE = {
    "bias": BIAS,
    "rmse": math.sqrt(BIAS**2 + SD_PRODUCT_ERROR**2 + SD_INSITU_ERROR**2),
    "ubrmse": math.sqrt(SD_PRODUCT_ERROR**2 + SD_INSITU_ERROR**2),
    "r": SD_TRUTH**2 / math.sqrt((SD_TRUTH**2 + SD_PRODUCT_ERROR**2) * (SD_TRUTH**2 + SD_INSITU_ERROR**2)),
}
METRICS = tuple(TRUE)


def _station(seed: int, n: int, error_phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = 0.25 + ar1(rng, n, 0.9, SD_TRUTH)
    insitu = truth + rng.normal(0.0, SD_INSITU_ERROR, n)
    product = truth + BIAS + ar1(rng, n, error_phi, SD_PRODUCT_ERROR)
    return np.arange(n), product, insitu


def _coverage(n: int, error_phi: float, repeats: int = 200) -> tuple[dict[str, float], dict[str, float]]:
    hits = dict.fromkeys(METRICS, 0)
    widths: dict[str, list[float]] = {m: [] for m in METRICS}
    for seed in range(repeats):
        intervals = station_intervals(*_station(seed, n, error_phi), figure_rng("coverage", seed))
        for metric in METRICS:
            low, high = getattr(intervals, metric)
            hits[metric] += low <= TRUE[metric] <= high
            widths[metric].append(high - low)
    return {m: hits[m] / repeats for m in METRICS}, {m: float(np.mean(widths[m])) for m in METRICS}


def test_sums_give_the_textbook_metrics():
    days, product, insitu = _station(1, 200, 0.5)
    index, n_days = day_index(days)
    totals = metrics_from_sums(day_sums(index, product, insitu, n_days).sum(axis=0))
    expected = score(product, insitu)
    assert_allclose([totals[m] for m in METRICS], [getattr(expected, m) for m in METRICS], rtol=1e-9)


def test_fisher_interval_hand_case_and_undefined_cases():
    # z = atanh(0.5) = 0.5493; half-width 1.96 / sqrt(28 - 3) = 0.392; tanh(0.157), tanh(0.941)
    assert_allclose(fisher_interval(0.5, 28.0), (0.1560, 0.7358), atol=1e-4)
    assert all(math.isnan(v) for v in fisher_interval(0.5, 3.0))
    assert all(math.isnan(v) for v in fisher_interval(1.0, 100.0))
    assert all(math.isnan(v) for v in fisher_interval(math.nan, 100.0))


def test_intervals_contain_the_true_value_in_most_repeats():
    # A year of days with errors persisting for days (r1 = 0.5). Measured: bias 0.875 (the block
    # bootstrap of a mean of persistent errors is known to run a little narrow), RMSE 0.945,
    # ubRMSE 0.94, R 0.95.
    coverage, _ = _coverage(365, 0.5)
    for metric, share in coverage.items():
        assert share >= 0.85, (metric, coverage)


def test_intervals_narrow_with_more_days():
    _, short = _coverage(90, 0.5, repeats=60)
    _, long = _coverage(360, 0.5, repeats=60)
    for metric in METRICS:  # 1/sqrt(N): 1/2 for four times the days (measured 0.43-0.58)
        assert long[metric] < 0.65 * short[metric], (metric, short, long)


def test_day_blocks_cover_where_single_days_do_not():
    # Strongly persistent errors (r1 = 0.8): resampling single days treats them as independent.
    hits = {"block": 0, "single": 0}
    for seed in range(150):
        days, product, insitu = _station(seed, 180, 0.8)
        d = product - insitu
        r1 = float(np.corrcoef(d[:-1], d[1:])[0, 1])
        for name, persistence in (("block", r1), ("single", 0.0)):
            low, high = bootstrap_intervals(days, product, insitu, persistence, figure_rng(name, seed))[
                "bias"
            ]
            hits[name] += low <= BIAS <= high
    assert hits["block"] / 150 >= 0.8
    assert hits["block"] - hits["single"] >= 0.2 * 150, hits  # measured: 0.87 against 0.49


def test_independent_days_follow_the_errors_persistence():
    intervals = station_intervals(*_station(7, 3000, 0.6), figure_rng("neff"))
    # d = bias + AR(1) product error - white station noise: r1(d) = 0.6 s_e^2 / (s_e^2 + s_o^2) = 0.54
    r1 = 0.6 * SD_PRODUCT_ERROR**2 / (SD_PRODUCT_ERROR**2 + SD_INSITU_ERROR**2)
    assert_allclose(intervals.n_eff, effective_days(3000, r1), rtol=0.1)  # about 900 of 3000 days
    white = station_intervals(*_station(7, 3000, 0.0), figure_rng("neff"))
    assert white.n_eff > 0.9 * 3000


def test_reruns_are_identical_and_too_few_pairs_give_no_interval():
    days, product, insitu = _station(3, 120, 0.5)
    first = station_intervals(days, product, insitu, figure_rng("A/s1", "30d"))
    assert first == station_intervals(days, product, insitu, figure_rng("A/s1", "30d"))
    assert first != station_intervals(days, product, insitu, figure_rng("A/s2", "30d"))
    two = station_intervals(days[:2], product[:2], insitu[:2], figure_rng("x"))
    assert two.n_eff == 2 and all(math.isnan(v) for v in (*two.r, *two.bias, *two.ubrmse))


def test_pooled_intervals_keep_a_day_together_across_stations():
    # Ten stations share each day's error (a regional storm) plus their own noise. The true
    # bias is 0.02; resampling station-days independently would count 10x too many days.
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        shared = ar1(rng, 120, 0.5, 0.02)
        days = np.tile(np.arange(120), 10)
        insitu = 0.25 + rng.normal(0.0, 0.05, days.size)
        product = insitu + BIAS + shared[days] + rng.normal(0.0, 0.01, days.size)
        low, high = pooled_intervals(days, product, insitu, 10 * 120.0, figure_rng("pool", seed)).bias
        hits += low <= BIAS <= high
    assert hits >= 85


def test_mismatched_days_are_refused():
    from smprod.errors import MetricInputError

    with pytest.raises(MetricInputError, match="one shape"):
        station_intervals(np.arange(3), [0.1, 0.2], [0.1, 0.2], figure_rng("x"))
