"""Block bootstrap over days, lag-1 autocorrelation and independent days, on hand cases and AR(1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.signal import lfilter

from smprod.errors import MetricInputError
from smprod.validation.resampling import (
    MIN_BLOCKS,
    block_bootstrap_sums,
    block_length,
    effective_days,
    effective_days_for_correlation,
    figure_rng,
    lag1_autocorrelation,
    percentile_interval,
)


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series of standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n)
    shocks[0] = rng.normal(0.0, sd)
    return lfilter([1.0], [1.0, -phi], shocks)


def test_figure_streams_are_reproducible_and_distinct():
    first = figure_rng("station", "A/s1", "30d").random(5)
    assert_allclose(figure_rng("station", "A/s1", "30d").random(5), first)
    assert not np.allclose(figure_rng("station", "A/s2", "30d").random(5), first)


def test_lag1_autocorrelation_of_an_ar1_series_with_and_without_gaps():
    x = ar1(np.random.default_rng(1), 6000, 0.7, 1.0)
    days = np.arange(x.size)
    assert_allclose(lag1_autocorrelation(days, x), 0.7, atol=0.03)
    kept = days % 3 != 0  # every third day missing: only pairs one day apart count
    assert_allclose(lag1_autocorrelation(days[kept], x[kept]), 0.7, atol=0.04)
    shuffled = np.random.default_rng(2).permutation(days)  # order of the input does not matter
    assert_allclose(lag1_autocorrelation(shuffled, x[shuffled]), lag1_autocorrelation(days, x))


def test_lag1_autocorrelation_without_consecutive_days_or_variance_is_zero():
    x = ar1(np.random.default_rng(3), 40, 0.9, 1.0)
    assert lag1_autocorrelation(np.arange(0, 80, 2), x) == 0.0  # no two values one day apart
    assert lag1_autocorrelation(np.arange(10), np.full(10, 0.3)) == 0.0


def test_effective_days_hand_cases():
    assert_allclose(effective_days(100, 0.5), 100 * 0.5 / 1.5)
    assert effective_days(100, 0.0) == 100 and effective_days(100, -0.4) == 100
    assert 0 < effective_days(100, 1.0) < 1  # capped, never zero or negative
    assert_allclose(effective_days_for_correlation(100, 0.5, 0.5), 100 * 0.75 / 1.25)
    assert effective_days_for_correlation(100, 0.9, -0.9) == 100


def test_effective_days_match_the_variance_of_the_mean_of_ar1_series():
    # Var(mean of N values) = sd^2 / N_eff: the definition N_eff must satisfy.
    rng = np.random.default_rng(4)
    n, phi = 400, 0.6
    means = [ar1(rng, n, phi, 1.0).mean() for _ in range(3000)]
    assert_allclose(1.0 / np.var(means), effective_days(n, phi), rtol=0.1)


def test_block_length_grows_with_persistence_and_stays_within_bounds():
    assert block_length(365, 0.0) == 1
    # Politis & White AR(1) plug-in at r1 = 0.5: (6 * 0.25 / 0.75^2)^(1/3) * 365^(1/3) = 9.9
    assert block_length(365, 0.5) == 10
    lengths = [block_length(365, r) for r in (0.2, 0.5, 0.8, 0.95)]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    assert block_length(30, 0.99) == 30 // MIN_BLOCKS
    assert block_length(2, 0.9) == 1
    with pytest.raises(MetricInputError, match="at least one day"):
        block_length(0, 0.5)


def test_block_bootstrap_sums_equal_explicitly_drawn_blocks():
    sums = np.random.default_rng(5).normal(size=(11, 3))
    for block in (1, 3, 4, 11):
        replicates = block_bootstrap_sums(sums, block, np.random.default_rng(6), replicates=9)
        starts = np.random.default_rng(6).integers(0, 11 - block + 1, size=(9, -(-11 // block)))
        days = (starts[:, :, None] + np.arange(block)).reshape(9, -1)[:, :11]  # concatenated, cut at 11
        assert_allclose(replicates, sums[days].sum(axis=1), atol=1e-12)
    whole = block_bootstrap_sums(sums, 11, np.random.default_rng(7), replicates=4)
    assert_allclose(whole, np.tile(sums.sum(axis=0), (4, 1)), atol=1e-12)
    with pytest.raises(MetricInputError, match="block length 12"):
        block_bootstrap_sums(sums, 12, np.random.default_rng(7))


def test_percentile_interval_and_its_refusal_when_replicates_are_undefined():
    values = np.random.default_rng(8).normal(0.0, 1.0, 20000)
    low, high = percentile_interval(values)
    assert_allclose([low, high], [-1.96, 1.96], atol=0.05)
    values[:3000] = np.nan  # 15 % undefined: more than the 10 % allowed
    assert all(math.isnan(v) for v in percentile_interval(values))
