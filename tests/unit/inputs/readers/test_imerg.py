"""IMERG reader: real half-hourly granules (V07 and V06 layouts) and small daily nc4 files."""

from __future__ import annotations

from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smprod.errors import GranuleFormatError, GranuleRegionError
from smprod.inputs.readers.imerg import imerg_name, read_imerg

HHR_V07 = "3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5"
DAY_LATE = "3B-DAY-L.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4"


def write_daily(
    path: Path,
    values: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    name="precipitation",
    lon_first: bool = True,
) -> Path:
    """A daily IMERG-like nc4 (root variables, dims (time, lon, lat) unless ``lon_first`` is False)."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 1)
        nc.createDimension("lon", lon.size)
        nc.createDimension("lat", lat.size)
        nc.createVariable("time", "i4", ("time",))[:] = [0]
        nc.createVariable("lon", "f4", ("lon",))[:] = lon
        nc.createVariable("lat", "f4", ("lat",))[:] = lat
        dims = ("time", "lon", "lat") if lon_first else ("time", "lat", "lon")
        var = nc.createVariable(name, "f4", dims, fill_value=np.float32(-9999.9))
        var.units = "mm/day"
        var[:] = values[None] if lon_first else values.T[None]
    return path


@pytest.fixture
def daily(tmp_path):
    lon = (-100.0 + (np.arange(10) + 0.5) * 0.1).astype(np.float32)  # 10 columns
    lat = (35.0 + (np.arange(6) + 0.5) * 0.1).astype(np.float32)  # 6 rows, south to north
    values = np.arange(60, dtype=np.float32).reshape(10, 6)  # (lon, lat)
    values[3, 2] = -9999.9
    return values, lon, lat


def test_daily_nc4_transposed_north_up(tmp_path, daily):
    values, lon, lat = daily
    da = read_imerg(write_daily(tmp_path / DAY_LATE, values, lon, lat))
    assert da.shape == (6, 10) and da.dims == ("y", "x")
    assert_allclose(da.y.values, np.round(lat[::-1].astype(np.float64), 2))
    assert_allclose(da.x.values[0], -99.95)
    # cell (lon index i, lat index j) lands at y = lat[j], x = lon[i]
    assert_allclose(da.sel(y=lat[4], x=lon[7], method="nearest").item(), values[7, 4])
    assert np.isnan(da.sel(y=lat[2], x=lon[3], method="nearest").item())
    assert np.isnan(da.values).sum() == 1
    assert da.attrs["units"] == "mm/day" and da.attrs["run"] == "Late" and da.attrs["day"] == "2024-07-01"
    assert da.rio.crs.to_epsg() == 4326


def test_dim_order_is_read_not_assumed(tmp_path, daily):
    values, lon, lat = daily
    a = read_imerg(write_daily(tmp_path / DAY_LATE, values, lon, lat))
    b = read_imerg(write_daily(tmp_path / ("b" + DAY_LATE), values, lon, lat, lon_first=False))
    assert_array_equal(a.values, b.values)


def test_missing_precipitation_variable_names_the_file(tmp_path, daily):
    values, lon, lat = daily
    path = write_daily(tmp_path / DAY_LATE, values, lon, lat, name="rain")
    with pytest.raises(GranuleFormatError, match="no precipitation variable") as info:
        read_imerg(path)
    assert info.value.path == str(path)


def test_truncated_and_garbage_files(tmp_path, daily):
    values, lon, lat = daily
    good = write_daily(tmp_path / DAY_LATE, values, lon, lat)
    truncated = tmp_path / "3B-DAY.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(GranuleFormatError):
        read_imerg(truncated)
    garbage = tmp_path / "3B-DAY-E.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4"
    garbage.write_bytes(b"\x00garbage" * 300)
    with pytest.raises(GranuleFormatError, match="HDF5"):
        read_imerg(garbage)


def test_run_from_name():
    assert imerg_name("3B-DAY.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4").run == "Final"
    assert imerg_name("3B-DAY-E.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4").run == "Early"
    assert imerg_name("3B-HHR-L.MS.MRG.3IMERG.20240701-S003000-E005959.0030.V07B.HDF5").run == "Late"
    assert imerg_name("precip.nc4") is None


@pytest.mark.realdata
def test_real_v07_half_hourly(realdata):
    path = realdata / "IMERG" / HHR_V07
    da = read_imerg(path)
    with h5py.File(path, "r") as f:
        raw = f["Grid/precipitation"][0]  # (lon, lat)
        lat = f["Grid/lat"][...]
    assert (
        da.shape == (10, 10) and da.attrs["units"] == "mm/hr" and da.attrs["variable"] == "Grid/precipitation"
    )
    assert_array_equal(np.isnan(da.values), (raw < 0).T[::-1])
    assert np.isnan(da.values).sum() == (raw < 0).sum() > 0
    assert_allclose(da.y.values, np.sort(lat.astype(np.float64))[::-1], atol=1e-4)
    assert da.y.values[0] > da.y.values[-1]


@pytest.mark.realdata
def test_real_v06_precipitation_cal_values_land_on_their_cells(realdata):
    path = realdata / "IMERG" / "GPM_3IMERGHH_bounds.nc4"
    da = read_imerg(path)
    with h5py.File(path, "r") as f:
        raw = f["Grid/precipitationCal"][0]
        lon, lat = f["Grid/lon"][...], f["Grid/lat"][...]
    assert da.shape == (150, 150) and da.attrs["variable"] == "Grid/precipitationCal"
    i, j = np.unravel_index(np.argmax(raw), raw.shape)  # the wettest cell: lon index i, lat index j
    assert_allclose(da.sel(x=lon[i], y=lat[j], method="nearest").item(), raw[i, j])
    assert_allclose(np.nansum(da.values), raw[raw >= 0].sum(), rtol=1e-5)


def test_window_read_matches_the_globe_and_reprojects_the_same(tmp_path):
    from smprod.grids.ease import region_from_bbox
    from smprod.grids.reproject import to_fine

    lon = (-105.0 + (np.arange(100) + 0.5) * 0.1).astype(np.float32)
    lat = (30.0 + (np.arange(100) + 0.5) * 0.1).astype(np.float32)
    values = np.random.default_rng(5).gamma(0.5, 4.0, size=(100, 100)).astype(np.float32)
    path = write_daily(tmp_path / DAY_LATE, values, lon, lat)
    region = region_from_bbox((-100.0, 34.0, -99.0, 35.0))
    full = read_imerg(path)
    part = read_imerg(path, window=region.fine)
    assert part.size < full.size / 4
    assert_array_equal(part.values, full.sel(x=part.x, y=part.y).values)
    assert_array_equal(to_fine(part, region, "bilinear").values, to_fine(full, region, "bilinear").values)
    with pytest.raises(GranuleRegionError):
        read_imerg(path, window=region_from_bbox((10.0, 45.0, 11.0, 46.0)).fine)


@pytest.mark.realdata
def test_damaged_real_granule_gives_format_errors_only(realdata, tmp_path):
    data = (realdata / "IMERG" / HHR_V07).read_bytes()
    rng = np.random.default_rng(13)
    damaged = [data[: len(data) * k // 10] for k in range(1, 10)]
    damaged += [
        data[:s] + rng.bytes(1024) + data[s + 1024 :] for s in rng.integers(0, len(data) - 1024, 8).tolist()
    ]
    errors = 0
    for i, content in enumerate(damaged):
        path = tmp_path / str(i) / HHR_V07
        path.parent.mkdir()
        path.write_bytes(content)
        try:
            read_imerg(path)
        except GranuleFormatError:
            errors += 1
    assert errors >= 9
