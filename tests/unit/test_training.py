"""The footprint-matched training predictors of SPL3SMP_E (smprod.training)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from smprod.training import COARSE_FOOTPRINT_KM, FWHM_PER_SIGMA, footprint_smoothed


def test_a_point_spreads_over_the_footprint_with_its_full_width_at_half_maximum():
    grid = np.zeros((41, 41))
    grid[20, 20] = 1.0
    smoothed = footprint_smoothed(grid, footprint_km=36.0, cell_km=9.0)  # FWHM 4 cells
    profile = smoothed[20] / smoothed[20, 20]
    # half maximum 2 cells either side of the centre (FWHM = 4 cells)
    assert profile[18] > 0.5 > profile[17] and profile[22] > 0.5 > profile[23]
    assert_allclose(smoothed.sum(), 1.0, atol=1e-6)  # mass kept away from the edges
    assert_allclose(FWHM_PER_SIGMA, 2 * np.sqrt(2 * np.log(2)), atol=1e-4)


def test_missing_cells_do_not_pull_the_average_down_and_sparse_ones_stay_missing():
    grid = np.full((20, 20), 0.3)
    grid[5:8, 5:8] = np.nan
    smoothed = footprint_smoothed(grid, 33.0, 9.0)
    assert_allclose(smoothed, 0.3)  # a constant stays constant, gaps filled by neighbours
    lonely = np.full((20, 20), np.nan)
    lonely[10, 10] = 0.2
    assert np.isnan(footprint_smoothed(lonely, 33.0, 9.0)[0, 0])


def test_only_the_enhanced_product_is_smoothed():
    assert COARSE_FOOTPRINT_KM["SPL3SMP"] == 0.0
    assert 30.0 <= COARSE_FOOTPRINT_KM["SPL3SMP_E"] <= 40.0
