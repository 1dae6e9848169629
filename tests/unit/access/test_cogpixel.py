"""The standard-library pixel reader of the series gives GDAL's value, or steps aside."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

from smprod.access.cogpixel import UnsupportedFileError, read_pixel
from smprod.grids.ease import region_from_bbox
from smprod.product.bands import BANDS
from smprod.product.cog import write_cog
from tests.unit.access.conftest import PRODUCT_DAYS

#: 1188 x 1332 pixels: 3 x 3 tiles of 512, the last row and column of tiles partly outside.
LARGE_BBOX = (-100.0, 33.0, -86.5, 44.5)


def _same(value: float, expected: np.generic) -> bool:
    return bool(value == expected or (math.isnan(value) and np.isnan(expected)))


def _pixels(shape: tuple[int, int], rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """Every tile's corners and edges around the tile seams, and ``count`` random pixels."""
    rows, cols = shape
    edges_r = sorted({0, 1, 510, 511, 512, 513, 1023, 1024, rows - 2, rows - 1} & set(range(rows)))
    edges_c = sorted({0, 1, 510, 511, 512, 513, 1023, 1024, cols - 2, cols - 1} & set(range(cols)))
    chosen = [(r, c) for r in edges_r for c in edges_c]
    random = zip(rng.integers(0, rows, count), rng.integers(0, cols, count), strict=True)
    return chosen + [(int(r), int(c)) for r, c in random]


def _transform(path: Path) -> tuple[float, ...]:
    with rasterio.open(path) as ds:
        return tuple(ds.transform)[:6]


@pytest.mark.parametrize("key", ["soil_moisture", "qa", "uncertainty"])
def test_pixels_of_the_products_equal_gdals(products, key: str) -> None:
    rng = np.random.default_rng(7)
    for day in PRODUCT_DAYS:
        path = products.layout.product_files(day).cogs()[key]
        with rasterio.open(path) as ds:
            expected, transform = ds.read(1), tuple(ds.transform)[:6]
        assert transform == tuple(products.region.fine.transform)[:6]
        for row, col in _pixels(expected.shape, rng, 300):
            value = read_pixel(path, row, col, expected.shape, transform)
            assert _same(value, expected[row, col]), (day, key, row, col, value, expected[row, col])


@pytest.mark.parametrize("key", ["soil_moisture", "qa"])
def test_pixels_of_a_many_tile_cog_equal_gdals(tmp_path: Path, key: str) -> None:
    region = region_from_bbox(LARGE_BBOX, 36)
    shape = region.fine.shape
    assert shape[0] > 1024 and shape[1] > 1024 and shape[0] % 512 and shape[1] % 512, shape
    rng = np.random.default_rng(3)
    if key == "qa":
        data = rng.integers(0, 256, shape).astype(np.uint8)
    else:
        data = rng.normal(0.25, 0.1, shape).astype(np.float32)
        data[rng.random(shape) < 0.05] = np.nan
        data[:3] = -data[:3]  # negative values: the sign bit through the predictor
    path = tmp_path / f"{key}.tif"
    write_cog(path, data, region.fine.transform, BANDS[key], {})
    transform = tuple(region.fine.transform)[:6]
    for row, col in _pixels(shape, rng, 400):
        value = read_pixel(path, row, col, shape, transform)
        assert _same(value, data[row, col]), (key, row, col, value, data[row, col])


def test_what_it_does_not_read_is_unsupported(products, tmp_path: Path) -> None:
    source = products.layout.product_files(PRODUCT_DAYS[0]).qa
    shape, transform = products.region.fine.shape, _transform(source)
    truncated, garbage, striped = (tmp_path / f"{name}.tif" for name in ("truncated", "garbage", "striped"))
    truncated.write_bytes(source.read_bytes()[:-100])
    garbage.write_bytes(b"not a TIFF at all")
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "uint8"}
    with rasterio.open(striped, "w", **profile, transform=products.region.fine.transform) as ds:
        ds.write(np.zeros(shape, np.uint8), 1)  # strips, not tiles
    shifted = (transform[0], 0.0, transform[2] + 1000.0, 0.0, transform[4], transform[5])
    cases = [
        (truncated, 107, 143, shape, transform),  # the tile's stream is cut short
        (garbage, 0, 0, shape, transform),
        (striped, 0, 0, shape, transform),
        (tmp_path / "absent.tif", 0, 0, shape, transform),
        (source, 0, 0, (shape[0] + 1, shape[1]), transform),  # another grid's shape
        (source, 0, 0, shape, shifted),  # another grid's transform
        (source, shape[0], 0, shape, transform),  # outside the file
    ]
    for path, row, col, expected_shape, expected_transform in cases:
        with pytest.raises(UnsupportedFileError):
            read_pixel(path, row, col, expected_shape, expected_transform)
