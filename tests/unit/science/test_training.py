"""The footprint-matched training predictors of SPL3SMP_E (smprod.science.training)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from smprod.grids.regrid import FWHM_PER_SIGMA
from smprod.science.training import COARSE_FOOTPRINT_KM, footprint_smoothed


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


def test_the_out_of_range_flag_is_judged_on_cell_means_not_on_the_smoothed_values():
    import pandas as pd

    from smprod.science.features import PREDICTORS
    from smprod.science.models import make_model
    from smprod.science.training import CELL_MEAN_SUFFIX, cell_mean_predictors

    rng = np.random.default_rng(0)
    table = pd.DataFrame({name: rng.uniform(0, 1, 60) for name in PREDICTORS})
    table["landcover"] = rng.integers(5, 8, 60).astype(float)
    table["lst_day" + CELL_MEAN_SUFFIX] = table["lst_day"] * 3.0  # cell means spread wider
    ranges = cell_mean_predictors(table)
    assert list(ranges.columns) == list(PREDICTORS)
    assert_allclose(ranges["lst_day"], table["lst_day"] * 3.0)
    assert_allclose(ranges["ndvi"], table["ndvi"])  # not smoothed: as it is
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], rng.uniform(0.1, 0.3, 60), ranges)
    assert model.ranges["lst_day"][1] == float(ranges["lst_day"].max())
    assert model.classes["landcover"] == [5.0, 6.0, 7.0]
