"""Native grids -> the region's EASE-Grid 2.0 grids: known fields, pixel alignment, mosaics, SMAP windows."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from numpy.testing import assert_allclose, assert_array_equal
from pyproj import Transformer

from smprod.errors import GranuleRegionError, GridError
from smprod.grids.ease import EaseGrid, RegionGrid, region_from_bbox, xy_to_lonlat
from smprod.grids.regrid import block_mean
from smprod.grids.reproject import mosaic, on_grid, smap_to_coarse, to_fine
from smprod.inputs.readers.hdfeos import TILE_SIZE, sinusoidal_crs, tile_upper_left
from smprod.inputs.readers.smap import read_smap_l3

BBOX = (-80.0, 35.0, -78.0, 37.0)  # inside MODIS tile h11v05


def sinusoidal_tile(h: int, v: int, n: int, func, name: str = "field") -> xr.DataArray:
    """An ``n x n`` field on MODIS tile hHHvVV whose value is ``func(lon, lat)`` at pixel centres."""
    import rioxarray  # noqa: F401

    x0, y0 = tile_upper_left(h, v)
    res = TILE_SIZE / n
    x = x0 + (np.arange(n) + 0.5) * res
    y = y0 - (np.arange(n) + 0.5) * res
    xx, yy = np.meshgrid(x, y)
    lon, lat = Transformer.from_crs(sinusoidal_crs(), "EPSG:4326", always_xy=True).transform(xx, yy)
    da = xr.DataArray(func(lon, lat), dims=("y", "x"), coords={"y": y, "x": x}, name=name)
    da.attrs["source"] = f"tile h{h:02d}v{v:02d}"
    return da.rio.write_crs(sinusoidal_crs()).rio.write_transform(Affine(res, 0, x0, 0, -res, y0))


def fine_lonlat(region):
    return region.fine.lonlat()


@pytest.fixture(scope="module")
def region():
    return region_from_bbox(BBOX)


def test_linear_field_survives_average_and_bilinear(region):
    def linear(lon, lat):
        return (lon + 2 * lat).astype(np.float32)

    tile = sinusoidal_tile(11, 5, 1200, linear)
    lon, lat = fine_lonlat(region)
    for method in ("average", "bilinear"):
        out = to_fine(tile, region, method)
        assert out.shape == region.fine.shape
        assert np.isfinite(out.values).all()
        # one 926 m pixel is ~0.01 degree: the field changes by at most ~0.03 across a pixel
        assert_allclose(out.values, linear(lon, lat), atol=0.02)


def test_output_is_exactly_on_the_fine_grid(region):
    out = to_fine(sinusoidal_tile(11, 5, 240, lambda lon, lat: lat.astype(np.float32)), region)
    assert_array_equal(out.x.values, region.fine.x)
    assert_array_equal(out.y.values, region.fine.y)
    assert out.rio.transform() == region.fine.transform
    assert out.rio.crs.to_epsg() == 6933


def test_ease_source_on_the_lattice_is_copied_exactly(region):
    rng = np.random.default_rng(3)
    big = RegionGrid(
        1, region.fine.row0 - 5, region.fine.col0 - 7, region.fine.nrows + 11, region.fine.ncols + 13
    )
    values = rng.random(big.shape).astype(np.float32)
    source = on_grid(values, big, name="v")
    for method in ("nearest", "average", "bilinear"):
        out = to_fine(source, region, method)
        assert_allclose(out.values, values[5 : 5 + region.fine.nrows, 7 : 7 + region.fine.ncols], rtol=1e-6)


def test_missing_values_do_not_leak(region):
    def field(lon, lat):
        values = np.full(lon.shape, 5.0, dtype=np.float32)
        values[(lon > -79.5) & (lon < -79.0)] = np.nan
        return values

    out = to_fine(sinusoidal_tile(11, 5, 1200, field), region)
    lon, _ = fine_lonlat(region)
    valid = out.values[np.isfinite(out.values)]
    assert_allclose(valid, 5.0)
    assert np.isnan(out.values[(lon > -79.45) & (lon < -79.05)]).all()
    assert np.isfinite(out.values[(lon < -79.6) | (lon > -78.9)]).all()


def test_mode_for_classes(region):
    def classes(lon, lat):
        return np.where(lon < -79.0, 4, 10).astype(np.int16)

    tile = sinusoidal_tile(11, 5, 2400, classes, name="landcover").rio.write_nodata(-1)
    out = to_fine(tile, region, "mode")
    lon, _ = fine_lonlat(region)
    assert out.dtype == np.int16 and out.rio.nodata == -1
    assert (out.values[lon < -79.05] == 4).all() and (out.values[lon > -78.95] == 10).all()


def test_mosaic_first_valid_wins_and_class_nodata_is_a_hole():
    a = np.array([[1.0, np.nan], [np.nan, 4.0]], np.float32)
    b = np.array([[9.0, 2.0], [np.nan, 9.0]], np.float32)
    assert_array_equal(mosaic([a, b]), [[1.0, 2.0], [np.nan, 4.0]])
    lc = mosaic([np.array([10, -1, -1], np.int16), np.array([4, 4, -1], np.int16)], nodata=-1)
    assert lc.dtype == np.int16 and lc.tolist() == [10, 4, -1]
    with pytest.raises(ValueError, match="no tiles"):
        mosaic([])


def test_mosaic_of_two_tiles_has_no_seam():
    region = region_from_bbox((-75.5, 36.0, -72.0, 38.0))  # straddles the h11/h12 boundary at 37 N
    left = sinusoidal_tile(11, 5, 600, lambda lon, lat: np.full(lon.shape, 1.0, np.float32))
    right = sinusoidal_tile(12, 5, 600, lambda lon, lat: np.full(lon.shape, 2.0, np.float32))
    out = mosaic([to_fine(left, region).values, to_fine(right, region).values])
    assert np.isfinite(out).all()
    assert set(np.unique(out)) == {1.0, 2.0}
    with pytest.raises(GranuleRegionError):
        to_fine(left, region_from_bbox((10.0, 45.0, 11.0, 46.0)))


def test_dataset_and_bilinear_lonlat_field(region):
    import rioxarray  # noqa: F401

    lon = -81.0 + (np.arange(40) + 0.5) * 0.1
    lat = 38.0 - (np.arange(40) + 0.5) * 0.1
    lon2, lat2 = np.meshgrid(lon, lat)
    precip = xr.DataArray((3 * lon2 - lat2).astype(np.float32), dims=("y", "x"), coords={"y": lat, "x": lon})
    ds = xr.Dataset({"precip": precip}, attrs={"source": "imerg"}).rio.write_crs("EPSG:4326")
    out = to_fine(ds, region, "bilinear")
    flon, flat = fine_lonlat(region)
    assert_allclose(out["precip"].values, 3 * flon - flat, atol=1e-3)
    assert out.attrs["source"] == "imerg"


# ---------------------------------------------------------------- SMAP to the coarse grid


def _smap_dataset(km: int, values: np.ndarray) -> xr.Dataset:
    grid = RegionGrid(km, 0, 0, *EaseGrid(km).shape)
    ds = xr.Dataset({n: on_grid(values, grid, n) for n in ("sm", "sm_am", "sm_pm")})
    ds.attrs.update(grid_km=km, source=f"smap{km}")
    return ds


def test_smap_36km_window_taken_directly(region):
    rng = np.random.default_rng(1)
    values = rng.random(EaseGrid(36).shape).astype(np.float32)
    out = smap_to_coarse(_smap_dataset(36, values), region)
    rows, cols = region.coarse.to_global()
    assert_array_equal(out["sm"].values, values[rows, cols])
    assert_array_equal(out.x.values, region.coarse.x)


def test_smap_9km_aggregated_to_36km(region):
    rng = np.random.default_rng(2)
    values = rng.random(EaseGrid(9).shape).astype(np.float32)
    out = smap_to_coarse(_smap_dataset(9, values), region)
    rows, cols = region.coarse.refine(9).to_global()
    assert_allclose(out["sm"].values, block_mean(values[rows, cols], 4), rtol=1e-6)
    with pytest.raises(GridError):
        smap_to_coarse(_smap_dataset(36, np.zeros(EaseGrid(36).shape, np.float32)), region_from_bbox(BBOX, 9))


def test_smap_window_read_then_coarse(region, tmp_path, smap_writer):
    shape = EaseGrid(36).shape
    sm = np.full(shape, 0.25, np.float32)
    flag = np.zeros(shape, np.uint16)
    path = smap_writer(tmp_path / "SMAP_L3_SM_P_20210815_R19240_001.h5", shape, (sm, flag), (sm, flag))
    window = read_smap_l3(path, window=region.coarse)
    out = smap_to_coarse(window, region)
    assert_allclose(out["sm"].values, 0.25)
    lon, lat = xy_to_lonlat(out.x.values[0], out.y.values[0])
    assert BBOX[0] - 1 < lon < BBOX[2] and BBOX[1] < lat < BBOX[3] + 1
    other = region_from_bbox((10.0, 45.0, 11.0, 46.0))
    with pytest.raises(GranuleRegionError):
        smap_to_coarse(window, other)


@pytest.mark.parametrize("km", [36, 9])
def test_smap_arrays_to_coarse_equals_the_dataset_path(tmp_path, smap_writer, km):
    """Ingest's plain-array SMAP path gives smap_to_coarse(read_smap_l3(...))'s values, and its
    errors (a window outside the region, a grid that does not nest)."""
    from smprod.grids.reproject import smap_arrays_to_coarse
    from smprod.inputs.readers.smap import read_smap_arrays

    rng = np.random.default_rng(km)
    shape = EaseGrid(km).shape

    def sm():
        return np.where(rng.random(shape) < 0.3, -9999.0, rng.uniform(0.02, 0.5, shape)).astype(np.float32)

    def flag():
        return rng.choice(np.array([0, 1, 2, 65534], dtype=np.uint16), shape)

    name = "SMAP_L3_SM_P_20210815_R19240_001.h5" if km == 36 else "SMAP_L3_SM_P_E_20210815_R19240_001.h5"
    path = smap_writer(tmp_path / name, shape, (sm(), flag()), (sm(), flag()))
    region = region_from_bbox(BBOX, 36)
    expected = smap_to_coarse(read_smap_l3(path, window=region.coarse), region)
    arrays = read_smap_arrays(path, window=region.coarse)
    got = smap_arrays_to_coarse(arrays.values, arrays.grid, region, str(path))
    for name in ("sm", "sm_am", "sm_pm"):
        assert got[name].dtype == expected[name].dtype
        assert np.array_equal(got[name], expected[name].values, equal_nan=True)
    assert arrays.release == read_smap_l3(path).attrs["release"] == "R19240_001"
    other = region_from_bbox((10.0, 45.0, 11.0, 46.0))
    with pytest.raises(GranuleRegionError) as whole:
        smap_to_coarse(read_smap_l3(path, window=region.coarse), other)
    with pytest.raises(GranuleRegionError) as plain:
        smap_arrays_to_coarse(arrays.values, arrays.grid, other, str(path))
    assert str(plain.value) == str(whole.value)
    if km == 36:
        with pytest.raises(GridError, match="does not nest"):
            smap_arrays_to_coarse(arrays.values, arrays.grid, region_from_bbox(BBOX, 9))


@pytest.fixture
def smap_writer():
    from tests.unit.inputs.readers.conftest import write_smap_l3

    return write_smap_l3


@pytest.mark.realdata
def test_real_modis_pixels_land_where_their_coordinates_say(realdata, region):
    """Nearest resampling of real h11v05 LST: each 1 km cell holds the sinusoidal pixel under its centre."""
    from smprod.inputs.readers.modis import read_modis

    tile = read_modis(realdata / "MODIS" / "MOD11A1.A2021227.h11v05.061.2021228105320.hdf")["lst_day"]
    out = to_fine(tile, region, "nearest").values
    xx, yy = np.meshgrid(region.fine.x, region.fine.y)
    lon, lat = xy_to_lonlat(xx, yy)
    sx, sy = Transformer.from_crs("EPSG:4326", sinusoidal_crs(), always_xy=True).transform(lon, lat)
    transform = tile.rio.transform()
    col = np.floor((sx - transform.c) / transform.a).astype(int)
    row = np.floor((transform.f - sy) / -transform.e).astype(int)
    expected = tile.values[row, col]
    both = np.isfinite(expected) | np.isfinite(out)
    assert both.sum() > 200  # the sample is mostly cloud; a few hundred clear cells remain here
    agree = np.isclose(out, expected, equal_nan=True)[both]
    assert agree.mean() > 0.98  # only cells whose centre sits on a pixel edge may differ


def test_on_grid_is_what_rioxarray_writes(region):
    """on_grid copies a per-grid template: the same object as rioxarray's write_crs and
    write_transform (coords, spatial_ref attributes in order, grid_mapping encoding), and a
    result changed afterwards leaves the next one alone."""
    import rioxarray  # noqa: F401

    grid = region.fine
    values = np.arange(grid.nrows * grid.ncols, dtype=np.float32).reshape(grid.shape)
    attrs = {"units": "K", "source": "x"}
    expected = xr.DataArray(values, dims=("y", "x"), coords=grid.coords(), name="v", attrs=attrs)
    expected = expected.rio.write_crs("EPSG:6933").rio.write_transform(grid.transform)
    got = on_grid(values, grid, name="v", attrs=attrs)
    xr.testing.assert_identical(got, expected)
    assert got.encoding == expected.encoding
    assert list(got.coords["spatial_ref"].attrs) == list(expected.coords["spatial_ref"].attrs)
    assert got.rio.crs == expected.rio.crs and got.rio.transform() == expected.rio.transform()
    got.attrs["units"] = "changed"
    got.coords["spatial_ref"].attrs["GeoTransform"] = "changed"
    again = on_grid(values, grid, name="v", attrs=attrs)
    xr.testing.assert_identical(again, expected)
    with pytest.raises(GridError):
        on_grid(values[:-1], grid)
