"""Static GeoTIFFs in any CRS and slope derived on the 1 km EASE-Grid 2.0 grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from numpy.testing import assert_allclose

from smprod.errors import GranuleFormatError
from smprod.grids.ease import region_from_bbox
from smprod.grids.reproject import to_fine
from smprod.inputs.readers.static import read_static, slope_degrees

EARTH_RADIUS = 6371007.181  # the sphere used for the expected ground distances below


@pytest.fixture(scope="module")
def region():
    return region_from_bbox((-98.0, 35.0, -97.0, 36.0))


def _write_tif(path, values, crs, transform, nodata=None):
    profile = dict(
        driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype=values.dtype.name
    )
    with rasterio.open(path, "w", crs=crs, transform=transform, nodata=nodata, **profile) as dst:
        dst.write(values, 1)
    return path


def test_utm_geotiff_read_and_reprojected(tmp_path, region):
    # UTM 14N covers -102..-96; 250 m cells, 200 km square around (-97.5, 35.5)
    values = np.full((800, 800), 350.0, dtype=np.float32)
    values[:10, :10] = -32768.0
    path = _write_tif(
        tmp_path / "elevation.tif", values, "EPSG:32614", Affine(250, 0, 540000, 0, -250, 4030000), -32768.0
    )
    da = read_static(path)
    assert da.name == "elevation" and da.attrs["units"] == "m"
    assert da.rio.crs.to_epsg() == 32614
    assert np.isnan(da.values[:10, :10]).all() and np.isfinite(da.values[10:, 10:]).all()
    out = to_fine(da, region, "average")
    valid = np.isfinite(out.values)
    assert valid.mean() > 0.5
    assert_allclose(out.values[valid], 350.0)


def test_slope_of_a_tilted_plane_uses_ground_distances(region):
    """z rises by tan(10 deg) per ground metre eastwards; EASE-Grid metres are not ground metres at 35 N."""
    lon, lat = region.fine.lonlat()
    east_m = EARTH_RADIUS * np.cos(np.radians(lat)) * np.radians(lon - lon.min())
    elevation = np.tan(np.radians(10.0)) * east_m
    slope = slope_degrees(elevation, region.fine)
    assert_allclose(slope, 10.0, atol=0.05)
    north_m = EARTH_RADIUS * np.radians(lat - lat.min())
    assert_allclose(slope_degrees(np.tan(np.radians(5.0)) * north_m, region.fine), 5.0, atol=0.05)
    flat = slope_degrees(np.full(region.fine.shape, 100.0), region.fine)
    assert_allclose(flat, 0.0, atol=1e-9)


def test_slope_is_nan_next_to_missing_elevation(region):
    elevation = np.zeros(region.fine.shape)
    elevation[10, 10] = np.nan
    slope = slope_degrees(elevation, region.fine)
    assert np.isnan(slope[10, 11]) and np.isnan(slope[11, 10]) and np.isfinite(slope[20, 20])


def test_bad_files(tmp_path):
    garbage = tmp_path / "sand.tif"
    garbage.write_bytes(b"II*\x00garbage" * 50)
    with pytest.raises(GranuleFormatError, match="GeoTIFF"):
        read_static(garbage)
    no_crs = _write_tif(tmp_path / "clay.tif", np.ones((4, 4), np.float32), None, Affine(1, 0, 0, 0, -1, 4))
    with pytest.raises(GranuleFormatError, match="CRS"):
        read_static(no_crs)
