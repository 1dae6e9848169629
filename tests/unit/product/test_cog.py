"""The COG writer and validator on small rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from smprod.errors import ProductError
from smprod.grids.ease import region_from_bbox
from smprod.product.cog import BandSpec, check_cog, cog_problems, overview_count, write_cog

SPEC = BandSpec("soil_moisture", "float32", float("nan"), "m3/m3", "AVERAGE", {"long_name": "test"})


@pytest.mark.parametrize(
    ("shape", "levels"), [((72, 72), 1), ((512, 100), 1), ((513, 10), 2), ((14616, 34704), 8)]
)
def test_overview_count_reaches_the_smallest_overview_size(shape: tuple[int, int], levels: int) -> None:
    assert overview_count(shape) == levels
    assert max(shape) / 2**levels <= 256


def test_small_raster_is_a_valid_cog_with_an_overview(tmp_path: Path) -> None:
    region = region_from_bbox((-100.0, 34.0, -99.5, 34.5))
    data = np.random.default_rng(0).uniform(0, 0.5, region.fine.shape)
    write_cog(tmp_path / "a.tif", data, region.fine.transform, SPEC, {"TIFFTAG_SOFTWARE": "x"})
    assert cog_problems(tmp_path / "a.tif") == []
    with rasterio.open(tmp_path / "a.tif") as ds:
        assert ds.overviews(1) == [2]
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"


def test_large_raster_has_ordered_ifds_and_data(tmp_path: Path) -> None:
    data = np.random.default_rng(1).uniform(0, 0.5, (1100, 1300)).astype(np.float32)
    write_cog(tmp_path / "b.tif", data, Affine(1000.0, 0, 0, 0, -1000.0, 0), SPEC, {})
    assert cog_problems(tmp_path / "b.tif") == []
    with rasterio.open(tmp_path / "b.tif") as ds:
        assert ds.overviews(1) == [2, 4, 8]


def test_plain_striped_geotiff_is_not_a_cog(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 600, "height": 600, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs="EPSG:4326", transform=Affine(0.1, 0, 0, 0, -0.1, 0), **profile) as ds:
        ds.write(np.zeros((1, 600, 600), np.float32))
    problems = cog_problems(path)
    for words in ("EPSG:6933", "nodata", "compressed", "tiles", "overviews", "layout"):
        assert any(words in p for p in problems), words
    with pytest.raises(ProductError, match="not a valid COG"):
        check_cog(path)


def test_geotiff_with_overviews_added_after_the_data_fails_the_order_checks(tmp_path: Path) -> None:
    from rasterio.enums import Resampling

    path = tmp_path / "late.tif"
    profile = {"driver": "GTiff", "width": 1100, "height": 1100, "count": 1, "dtype": "float32"}
    profile |= {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "nodata": 0}
    with rasterio.open(
        path, "w", crs="EPSG:6933", transform=Affine(1000, 0, 0, 0, -1000, 0), **profile
    ) as ds:
        ds.write(np.ones((1, 1100, 1100), np.float32))
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4], Resampling.average)
    problems = cog_problems(path)
    assert any("IFD" in p or "data of overview" in p for p in problems), problems


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.tif"
    path.write_bytes(b"not a tiff")
    assert cog_problems(path)[0].startswith("cannot be opened")


def test_a_full_disk_is_an_os_error_with_its_errno(tmp_path):
    """/dev/full answers every write with ENOSPC: the writer says so, where GDAL writing the file
    itself raised ``TIFFWriteDirectoryTagData:IO error writing tag data`` (no errno, no path)."""
    import errno

    from smprod.product.bands import BANDS

    values = np.full((64, 64), 0.25, np.float32)
    with pytest.raises(OSError) as raised:
        write_cog(Path("/dev/full"), values, Affine(1000, 0, 0, 0, -1000, 0), BANDS["soil_moisture"], {})
    assert raised.value.errno == errno.ENOSPC
