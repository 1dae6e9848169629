"""GOSIF reader: int16 GeoTIFFs in the real layout (scale 0.0001, water / snow-ice codes, the
global 0.05 degree lattice), written here with rasterio; names, CRS and lattice errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.crs import CRS

from smprod.errors import GranuleFormatError, GranuleRegionError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.granules import SIF_MONTHLY_PRODUCT, SIF_PRODUCT, parse_granule_name, parse_name
from smprod.inputs.readers import reader_for
from smprod.inputs.readers.sif import SNOW_ICE, WATER, read_gosif

EIGHT_DAY = "GOSIF_2024121.tif"


def write_tif(
    path: Path, stored: np.ndarray, west: float, north: float, *, epsg: int = 4326, res: float = 0.05
) -> Path:
    """A one-band int16 GeoTIFF as GOSIF is distributed (no nodata tag)."""
    profile = {
        "driver": "GTiff",
        "height": stored.shape[0],
        "width": stored.shape[1],
        "count": 1,
        "dtype": stored.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": Affine(res, 0, west, 0, -res, north),
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(stored, 1)
    return path


@pytest.fixture
def window_file(tmp_path):
    """20 x 30 cells from (-100.5 E, 36.0 N): value k/10000 in cell k, one water and one snow cell."""
    stored = np.arange(600, dtype=np.int16).reshape(20, 30)
    stored[2, 3], stored[4, 5] = WATER, SNOW_ICE
    return write_tif(tmp_path / EIGHT_DAY, stored, -100.5, 36.0), stored


def test_values_are_scaled_and_the_codes_are_nan(window_file):
    path, stored = window_file
    da = read_gosif(path)
    assert da.dims == ("y", "x") and da.shape == (20, 30) and da.attrs["units"] == "W m-2 um-1 sr-1"
    expected = stored.astype(np.float64) * 1e-4
    expected[2, 3] = expected[4, 5] = np.nan
    assert_allclose(da.values, expected, rtol=1e-6)
    assert da.rio.crs.to_epsg() == 4326


def test_coordinates_are_the_cell_centres_of_the_global_lattice(window_file):
    da = read_gosif(window_file[0])
    assert_allclose(da.x.values[:2], [-100.475, -100.425])
    assert_allclose(da.y.values[:2], [35.975, 35.925])
    assert_allclose(da.rio.transform()[2], -100.5) and assert_allclose(da.rio.transform()[5], 36.0)


def test_a_window_read_equals_the_same_cells_of_the_whole_file(window_file):
    region = region_from_bbox((-100.2, 35.3, -99.6, 35.6), 36)
    whole, part = read_gosif(window_file[0]), read_gosif(window_file[0], window=region.fine)
    assert part.size < whole.size
    assert_array_equal(part.values, whole.sel(x=part.x, y=part.y).values)
    minlon, minlat, maxlon, maxlat = region.fine.lonlat_bounds()
    assert part.x.values.min() < minlon and part.x.values.max() > maxlon  # a margin for bilinear
    assert part.y.values.min() < minlat and part.y.values.max() > maxlat


def test_a_region_outside_the_file_is_a_region_error(window_file):
    with pytest.raises(GranuleRegionError):
        read_gosif(window_file[0], window=region_from_bbox((10.0, 45.0, 11.0, 46.0), 36).fine)


def test_names_parse_as_eight_day_and_monthly_composites():
    eight = parse_name(EIGHT_DAY)
    assert eight.product == SIF_PRODUCT and eight.family == "SIF"
    assert [d.isoformat() for d in eight.period] == ["2024-04-30", "2024-05-07"]  # DOY 121..128
    last = parse_name("GOSIF_2024361.tif")
    assert last.period[1].isoformat() == "2024-12-31"  # the year's last composite is short
    monthly = parse_name("GOSIF_2024.M02.tif")
    assert monthly.product == SIF_MONTHLY_PRODUCT and monthly.period[1].isoformat() == "2024-02-29"
    assert parse_granule_name("GOSIF_2024.M02.tif") is None  # readable, not ingested
    assert parse_name("GOSIF_2024.M13.tif") is None and parse_name("GOSIF_2024400.tif") is None
    assert reader_for(EIGHT_DAY) is read_gosif


def test_a_file_under_another_name_is_refused_naming_the_forms(tmp_path, window_file):
    renamed = window_file[0].rename(tmp_path / "sif_may.tif")
    with pytest.raises(GranuleFormatError, match=r"GOSIF_YYYYDDD\.tif"):
        read_gosif(renamed)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsg": 3857}, "not EPSG:4326"),
        ({"res": 0.1}, "0.05 degree cells"),
        ({"west": -100.52}, "not on the global 0.05 degree lattice"),
        ({"west": 179.0}, "beyond the globe"),
    ],
)
def test_a_file_off_the_layout_is_a_format_error(tmp_path, kwargs, message):
    west = kwargs.pop("west", -100.5)
    path = write_tif(tmp_path / EIGHT_DAY, np.zeros((20, 30), np.int16), west, 36.0, **kwargs)
    with pytest.raises(GranuleFormatError, match=message) as caught:
        read_gosif(path)
    assert caught.value.path == str(path)


def test_float_values_and_unreadable_files_are_format_errors(tmp_path):
    floats = write_tif(tmp_path / EIGHT_DAY, np.zeros((4, 4), np.float32), -100.5, 36.0)
    with pytest.raises(GranuleFormatError, match="int16"):
        read_gosif(floats)
    broken = tmp_path / "GOSIF_2024129.tif"
    broken.write_bytes(b"II*\x00 not a tiff")
    with pytest.raises(GranuleFormatError, match="not a readable GeoTIFF"):
        read_gosif(broken)
    with pytest.raises(GranuleFormatError, match="does not exist"):
        read_gosif(tmp_path / "GOSIF_2024137.tif")
