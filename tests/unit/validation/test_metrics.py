"""Metric formulas on hand-computed cases and against the textbook definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from smprod.validation.metrics import score


def test_hand_computed_case():
    insitu = [0.10, 0.20, 0.30, 0.40]
    product = [0.12, 0.18, 0.35, 0.41]  # d = 0.02, -0.02, 0.05, 0.01
    s = score(product, insitu)
    assert s.n == 4
    assert_allclose(s.bias, 0.015, atol=1e-12)  # (0.02 - 0.02 + 0.05 + 0.01) / 4
    assert_allclose(s.rmse, math.sqrt((4e-4 + 4e-4 + 25e-4 + 1e-4) / 4), atol=1e-12)  # sqrt(0.00085)
    assert_allclose(s.mae, (0.02 + 0.02 + 0.05 + 0.01) / 4, atol=1e-12)
    assert_allclose(s.ubrmse, math.sqrt(0.00085 - 0.015**2), atol=1e-12)  # sqrt(0.000625) = 0.025
    assert_allclose(s.ubrmse, 0.025, atol=1e-12)


def test_textbook_formulas_on_random_pairs():
    rng = np.random.default_rng(7)
    insitu = rng.uniform(0.05, 0.45, 200)
    product = 0.8 * insitu + 0.05 + rng.normal(0, 0.03, 200)
    s = score(product, insitu)
    d = product - insitu
    assert_allclose(s.bias, d.mean(), rtol=1e-12)
    assert_allclose(s.rmse, np.sqrt(np.mean(d**2)), rtol=1e-12)
    assert_allclose(s.ubrmse, np.sqrt(s.rmse**2 - s.bias**2), rtol=1e-12)
    assert_allclose(s.ubrmse, d.std(ddof=0), rtol=1e-10)  # ubRMSE is the std of the differences
    assert_allclose(s.mae, np.abs(d).mean(), rtol=1e-12)
    dx, dy = product - product.mean(), insitu - insitu.mean()
    assert_allclose(s.r, (dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum()), rtol=1e-12)
    assert s.r_pvalue < 1e-10 and s.r_significant


def test_pairs_with_a_nan_on_either_side_are_dropped():
    s = score([0.1, np.nan, 0.3, 0.5, 0.2], [0.1, 0.2, np.nan, 0.4, 0.3])
    assert s.n == 3
    assert_allclose(s.bias, (0.0 + 0.1 - 0.1) / 3, atol=1e-12)


def test_r_is_undefined_below_three_pairs_and_for_constant_series():
    two = score([0.1, 0.2], [0.1, 0.3])
    assert two.n == 2 and math.isnan(two.r) and not two.r_significant
    assert_allclose(two.rmse, math.sqrt(0.01 / 2), atol=1e-12)
    flat = score([0.2, 0.2, 0.2, 0.2], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(flat.r) and not flat.r_significant


def test_weak_correlation_is_marked_not_significant():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = rng.normal(size=12)
    s = score(x, y)
    expected = stats.pearsonr(x, y)
    assert_allclose([s.r, s.r_pvalue], [expected.statistic, expected.pvalue], rtol=1e-12)
    assert s.r_significant == (expected.pvalue < 0.05)
    assert not score([0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.4, 0.3]).r_significant  # R=0.6, p=0.4


def test_constant_offset_has_zero_ubrmse_and_no_pairs_give_nan():
    s = score([0.15, 0.25, 0.35], [0.10, 0.20, 0.30])
    assert_allclose([s.bias, s.rmse, s.ubrmse, s.r], [0.05, 0.05, 0.0, 1.0], atol=1e-9)
    empty = score([np.nan], [0.1])
    assert empty.n == 0 and math.isnan(empty.rmse)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        score([0.1, 0.2], [0.1])
