"""EASE-Grid 2.0 constants and regions, checked against real SMAP coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.errors import GridError
from smprod.grids.ease import CELL_SIZE, GLOBAL_SHAPE, X0, Y0, EaseGrid, RegionGrid, region_from_bbox


@pytest.mark.realdata
def test_36km_cell_centres_match_real_spl3smp_coordinates(realdata):
    import netCDF4

    path = realdata / "SPL3SMP" / "SC_SPL3SMP_009_prefetch.nc4"
    with netCDF4.Dataset(path) as ds:
        lat = np.asarray(ds["Soil_Moisture_Retrieval_Data_AM/latitude"][:])
        lon = np.asarray(ds["Soil_Moisture_Retrieval_Data_AM/longitude"][:])
    grid = EaseGrid(36)
    assert lat.shape == grid.shape
    rows, cols = np.indices(grid.shape)
    glon, glat = grid.lonlat(rows, cols)
    valid = lat != -9999.0
    # Real files fill the coordinates with -9999 where there is no land retrieval (about half the
    # globe): readers must take coordinates from the grid, never from these arrays.
    assert 0.3 < valid.mean() < 0.7
    assert_allclose(glat[valid], lat[valid], atol=1e-4)
    assert_allclose(glon[valid], lon[valid], atol=1e-4)


@pytest.mark.realdata
def test_rowcol_of_real_centres_is_identity(realdata):
    import netCDF4

    with netCDF4.Dataset(realdata / "SPL3SMP" / "SC_SPL3SMP_009_prefetch.nc4") as ds:
        lat = np.asarray(ds["Soil_Moisture_Retrieval_Data_PM/latitude_pm"][::37, ::41])
        lon = np.asarray(ds["Soil_Moisture_Retrieval_Data_PM/longitude_pm"][::37, ::41])
    valid = lat != -9999.0
    rows, cols = EaseGrid(36).rowcol_of_lonlat(lon[valid], lat[valid])
    expect_r, expect_c = np.indices(lat.shape)
    np.testing.assert_array_equal(rows, expect_r[valid] * 37)
    np.testing.assert_array_equal(cols, expect_c[valid] * 41)


def test_grids_nest_and_share_the_corner():
    for km in (9, 3, 1):
        factor = 36 // km
        assert_allclose(CELL_SIZE[36], CELL_SIZE[km] * factor, rtol=1e-12)
        assert GLOBAL_SHAPE[km] == (GLOBAL_SHAPE[36][0] * factor, GLOBAL_SHAPE[36][1] * factor)
    # the global grid spans the full equal-area cylinder symmetrically about the equator/meridian
    assert_allclose(X0 + GLOBAL_SHAPE[36][1] * CELL_SIZE[36], -X0, rtol=1e-12)
    assert_allclose(Y0 - GLOBAL_SHAPE[36][0] * CELL_SIZE[36], -Y0, rtol=1e-12)


def test_region_snaps_outward_to_whole_coarse_cells():
    bbox = (-99.0, 34.5, -96.5, 36.5)
    region = region_from_bbox(bbox, coarse_km=36)
    minlon, minlat, maxlon, maxlat = region.coarse.lonlat_bounds()
    assert minlon <= bbox[0] and minlat <= bbox[1] and maxlon >= bbox[2] and maxlat >= bbox[3]
    # no more than one coarse cell of slack on any side
    assert bbox[0] - minlon < 0.4 and maxlon - bbox[2] < 0.4
    assert region.fine.shape == (region.coarse.nrows * 36, region.coarse.ncols * 36)
    assert region.fine.transform.c == pytest.approx(region.coarse.transform.c)
    assert region.fine.transform.f == pytest.approx(region.coarse.transform.f)


@pytest.mark.parametrize("coarse_km, factor", [(36, 36), (9, 9)])
def test_fine_to_coarse_index_map(coarse_km, factor):
    region = region_from_bbox((10.0, 45.0, 11.0, 45.6), coarse_km=coarse_km)
    assert region.factor == factor
    r, c = region.coarse_index()
    # every fine centre lies inside the coarse cell the map points at
    fx, fy = np.meshgrid(region.fine.x, region.fine.y)
    cr, cc = EaseGrid(coarse_km).rowcol(fx, fy)
    np.testing.assert_array_equal(cr - region.coarse.row0, r)
    np.testing.assert_array_equal(cc - region.coarse.col0, c)
    counts = np.bincount(region.coarse_flat_index().ravel())
    assert set(counts.tolist()) == {factor * factor}


def test_bbox_on_a_cell_edge_does_not_pull_in_the_neighbour():
    grid = EaseGrid(36)
    lon0, lat0 = grid.lonlat(np.array([100, 101]), np.array([500, 501]))
    # bbox spanning exactly the centres of two diagonal neighbours -> a 2x2 window
    region = region_from_bbox((lon0[0], lat0[1], lon0[1], lat0[0]))
    assert (region.coarse.row0, region.coarse.col0) == (100, 500)
    assert region.coarse.shape == (2, 2)


def test_region_beyond_the_grid_is_refused():
    with pytest.raises(GridError, match="bbox"):
        region_from_bbox((0.0, 86.0, 1.0, 89.0))


def test_unknown_resolution_is_refused():
    with pytest.raises(GridError, match="5 km"):
        EaseGrid(5)


def test_window_and_refine_are_consistent():
    coarse = RegionGrid(36, 80, 200, 4, 5)
    fine = coarse.refine(1)
    sub = fine.window(36, 72, 36, 36)
    assert sub.row0 == fine.row0 + 36 and sub.col0 == fine.col0 + 72
    assert_allclose(sub.bounds[0], coarse.bounds[0] + 2 * CELL_SIZE[36])
    with pytest.raises(GridError):
        fine.window(0, 0, fine.nrows + 1, 1)
