"""The synthetic world is as hard as the design asks: clouds, noise, sub-grid structure, physics."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from smprod.grids.ease import region_from_bbox
from smprod.grids.regrid import block_mean, upsample_nearest
from smprod.synthetic.world import simulate

REGION = region_from_bbox((-98.0, 35.0, -96.6, 36.0), 36)


@pytest.fixture(scope="module")
def world():
    return simulate(REGION, date(2024, 6, 1), 12, seed=5)


def test_truth_is_physical_and_has_sub_grid_structure(world):
    st = world.statics
    for day in world.days:
        assert np.all(day.theta >= 0) and np.all(day.theta <= st.porosity + 1e-6)
        coarse = block_mean(day.theta, REGION.factor)
        sub_grid = day.theta - upsample_nearest(coarse, REGION.factor)
        assert sub_grid.std() > 0.01  # at least 0.01 m3/m3 of structure below 36 km


def test_clouds_cover_30_to_60_percent(world):
    fractions = [np.isnan(day.lst_day["Terra"]).mean() for day in world.days]
    assert all(0.28 <= f <= 0.62 for f in fractions)


def test_lst_is_cooler_where_soil_is_wetter(world):
    day = world.days[-1]
    valid = np.isfinite(day.lst_day["Terra"])
    r = np.corrcoef(day.theta[valid], day.lst_day["Terra"][valid])[0, 1]
    assert r < -0.1


def test_same_seed_same_world_other_seed_other_world():
    a = simulate(REGION, date(2024, 6, 1), 2, seed=1)
    b = simulate(REGION, date(2024, 6, 1), 2, seed=1)
    c = simulate(REGION, date(2024, 6, 1), 2, seed=2)
    np.testing.assert_array_equal(a.days[-1].theta, b.days[-1].theta)
    assert not np.allclose(a.days[-1].theta, c.days[-1].theta)
