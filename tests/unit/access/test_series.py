"""A point's series from real product files: values, QA names, SMAP and bilinear, missing days."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import rasterio.env
from numpy.testing import assert_allclose
from PIL import Image

from smprod.access import series as series_module
from smprod.access.cogpixel import UnsupportedFileError
from smprod.access.series import (
    CSV_COLUMNS,
    DEFAULT_SERIES_DAYS,
    MISSING,
    NETCDF_DEFAULT_FILL,
    PIXEL_READ_GDAL,
    PRODUCT,
    UNREADABLE,
    PointSeries,
    coarse_values,
    locate_point,
    pixel_values,
    plot_series,
    point_series,
    series_csv,
    series_lines,
    write_series_csv,
)
from smprod.errors import ConfigError, MissingInputError
from smprod.grids.ease import EaseGrid, Region, region_from_bbox
from smprod.grids.regrid import bilinear_to_fine
from smprod.layout import WorkLayout
from smprod.qa import QA
from tests.unit.access.conftest import ACCESS_BBOX, MISSING_DAY, PRODUCT_DAYS, cog_values, write_access_day

FIRST, LAST = PRODUCT_DAYS[0], PRODUCT_DAYS[-1]


def _centre(region: Region, row: int, col: int) -> tuple[float, float]:
    """Lon/lat of the centre of pixel (row, col) of the region's 1 km grid."""
    lon, lat = EaseGrid(1).lonlat(region.fine.row0 + row, region.fine.col0 + col)
    return float(lon), float(lat)


def _series(products, row: int, col: int) -> PointSeries:
    lon, lat = _centre(products.region, row, col)
    return point_series(products.layout, products.region, lon, lat, FIRST, LAST)


@pytest.mark.parametrize(
    ("row", "col"),
    [(54, 70), (0, 10), (107, 143), (45, 65)],  # middle row; top edge; last corner; both QA bits
)
def test_values_equal_the_cog_pixels_and_the_coarse_inputs(products, row: int, col: int) -> None:
    series = _series(products, row, col)
    assert (series.cell.row, series.cell.col) == (row, col)
    assert [day.day for day in series.days] == [FIRST, date(2024, 6, 2), MISSING_DAY, LAST]
    for day in series.with_status(PRODUCT):
        cog = cog_values(products.layout, day.day)
        assert_allclose(day.soil_moisture, cog["soil_moisture"][row, col], rtol=0, atol=0)
        assert_allclose(day.uncertainty, cog["uncertainty"][row, col], rtol=0, atol=0)
        assert day.qa == cog["qa"][row, col]
        coarse = products.coarse[day.day]
        assert_allclose(day.smap, coarse[row // 36, col // 36], rtol=0, atol=0)
        assert_allclose(day.bilinear_smap, bilinear_to_fine(coarse, 36)[row, col], rtol=1e-12)


def test_qa_bits_are_decoded_by_name(products) -> None:
    both = _series(products, 45, 65).days[0]  # in the gap-filled rows and the out-of-range cols
    assert both.qa is not None and both.qa & (QA.MODIS_GAP_FILLED | QA.OUT_OF_TRAINING_RANGE)
    assert {"modis_gap_filled", "out_of_training_range"} <= set(both.qa_flags)
    empty = _series(products, 2, 3).days[0]  # inside NO_VALUE: the model had nothing
    assert "no_retrieval" in empty.qa_flags
    assert np.isnan(empty.soil_moisture) and np.isnan(empty.uncertainty)
    gap = _series(products, 80, 120).days[0]  # coarse cell (2, 3) has no SMAP
    assert "coarse_missing" in gap.qa_flags and np.isnan(gap.smap)
    line = next(line for line in series_lines(_series(products, 45, 65)) if line.startswith(str(FIRST)))
    assert line.endswith(f"{both.qa} {','.join(both.qa_flags)}")


def test_days_without_a_product_are_listed_missing(products) -> None:
    series = _series(products, 54, 70)
    missing = series.with_status(MISSING)
    assert [day.day for day in missing] == [MISSING_DAY]
    assert missing[0].qa is None and np.isnan(missing[0].soil_moisture)
    lines = series_lines(series)
    assert f"{MISSING_DAY}  missing: no product for this day" in lines
    assert lines[-1] == f"4 days {FIRST} .. {LAST}: 3 with a product, 1 missing ({MISSING_DAY})"
    assert len(lines) == 2 + 4 + 1  # header, column names, one line per day, the count


@pytest.mark.parametrize(("lon", "lat"), [(2.9567, 43.15), (-97.5, 36.5), (-97.5, 95.0)])
def test_a_point_outside_the_region_is_a_config_error_naming_it_and_the_bounds(
    products, lon: float, lat: float
) -> None:
    with pytest.raises(
        ConfigError, match=rf"point lon {lon}, lat {lat} is outside the region \(lon -98\.\d+ to"
    ):
        locate_point(products.region, lon, lat)


def test_the_default_range_is_60_days_ending_on_the_newest_product(products) -> None:
    lon, lat = _centre(products.region, 54, 70)
    series = point_series(products.layout, products.region, lon, lat)
    assert len(series.days) == DEFAULT_SERIES_DAYS and series.days[-1].day == LAST
    assert len(series.with_status(PRODUCT)) == len(PRODUCT_DAYS)


def test_no_product_and_no_end_is_a_missing_input_error(products, tmp_path: Path) -> None:
    lon, lat = _centre(products.region, 54, 70)
    with pytest.raises(MissingInputError, match="no published product under"):
        point_series(WorkLayout(tmp_path), products.region, lon, lat)
    with pytest.raises(ConfigError, match="start 2024-06-04 is after end 2024-06-01"):
        point_series(products.layout, products.region, lon, lat, LAST, FIRST)
    with pytest.raises(ConfigError, match="start 2024-07-01 is after the newest product day 2024-06-04"):
        point_series(products.layout, products.region, lon, lat, date(2024, 7, 1))


def test_an_unreadable_day_is_listed_with_its_reason_and_the_others_go_on(products, tmp_path: Path) -> None:
    layout = WorkLayout(tmp_path)
    for day in (FIRST, LAST):
        write_access_day(layout, products.region, day)
    qa = layout.product_files(LAST).qa
    qa.write_bytes(qa.read_bytes()[:200])  # truncated
    lon, lat = _centre(products.region, 54, 70)
    series = point_series(layout, products.region, lon, lat, FIRST, LAST)
    assert [day.status for day in series.days] == [PRODUCT, MISSING, MISSING, UNREADABLE]
    assert f"product {LAST} cannot be read" in series.days[-1].reason
    assert series_lines(series)[-1].endswith("2 missing (2024-06-02, 2024-06-03), 1 unreadable")


def test_a_day_made_for_another_region_is_unreadable_with_the_reason(products, tmp_path: Path) -> None:
    # Same shape, shifted by one coarse cell: only the transform tells the files apart, and the
    # pixel reads' GDAL settings (PIXEL_READ_GDAL) must not skip that check.
    layout = WorkLayout(tmp_path)
    write_access_day(layout, products.region, FIRST)
    west, south, east, north = ACCESS_BBOX
    shifted = region_from_bbox((west + 0.4, south, east + 0.4, north), 36)
    assert shifted.fine.shape == products.region.fine.shape
    assert shifted.fine.transform != products.region.fine.transform
    write_access_day(layout, shifted, LAST)
    lon, lat = _centre(products.region, 54, 70)
    series = point_series(layout, products.region, lon, lat, FIRST, LAST)
    assert [day.status for day in series.days] == [PRODUCT, MISSING, MISSING, UNREADABLE]
    assert "is not on the configured region's 1 km grid" in series.days[-1].reason


def test_the_direct_pixel_read_gives_what_the_product_contract_reads(products, monkeypatch) -> None:
    # read_layers (GDAL) is where a file the direct reader steps aside from goes: both must agree.
    cells = [locate_point(products.region, *_centre(products.region, r, c)) for r, c in PIXELS]
    direct = [pixel_values(products.layout.product_files(day), products.region, cell)
              for day in PRODUCT_DAYS for cell in cells]  # fmt: skip

    def step_aside(*args: object) -> float:
        raise UnsupportedFileError("forced")

    monkeypatch.setattr(series_module, "read_pixel", step_aside)
    contract = [pixel_values(products.layout.product_files(day), products.region, cell)
                for day in PRODUCT_DAYS for cell in cells]  # fmt: skip
    assert all(type(v) in (int, float) for values in direct + contract for v in values.values())
    assert [_nan_as_none(values) for values in direct] == [_nan_as_none(values) for values in contract]


def _nan_as_none(values: dict[str, float]) -> dict[str, float | None]:
    return {key: None if np.isnan(value) else value for key, value in values.items()}


#: Pixels the read paths are compared at: corners, a value-less pixel, both QA bits, the middle.
PIXELS = [(0, 0), (0, 143), (107, 0), (107, 143), (2, 3), (45, 65), (54, 70)]


@pytest.mark.parametrize(
    ("attrs", "file_format"),
    [
        ({}, "NETCDF4"),  # netCDF's default fill value masked
        ({"_FillValue": np.float32(-1)}, "NETCDF4"),
        ({"_FillValue": np.float32(np.nan)}, "NETCDF4"),  # as xarray writes it
        ({"valid_max": np.float32(0.3)}, "NETCDF4"),  # netCDF4 masks by it: read by netCDF4
        ({"missing_value": np.float32(0.2)}, "NETCDF4"),
        ({"scale_factor": np.float32(2)}, "NETCDF4"),
        ({}, "NETCDF3_CLASSIC"),  # not HDF5: read by netCDF4
    ],
)  # fmt: skip
def test_the_coarse_read_gives_what_netcdf4_gives(
    products, monkeypatch, tmp_path: Path, attrs: dict, file_format: str
) -> None:
    region = products.region
    values = np.random.default_rng(5).uniform(0.1, 0.4, region.coarse.shape).astype(np.float32)
    values[0, 0], values[0, 1], values[1, 1] = -1, NETCDF_DEFAULT_FILL, np.nan  # fills
    values[1, 2], values[2, 0] = 0.35, 0.2  # above valid_max, missing_value
    path = tmp_path / "coarse.nc"
    with netCDF4.Dataset(path, "w", format=file_format) as ds:
        ds.createDimension("y", region.coarse.nrows)
        ds.createDimension("x", region.coarse.ncols)
        fill = attrs.pop("_FillValue", None)
        variable = ds.createVariable("sm", "f4", ("y", "x"), fill_value=fill)
        variable.set_auto_maskandscale(False)
        variable.setncatts(attrs)
        variable[:] = values
    cells = [locate_point(region, *_centre(region, r * 36 + 5, c * 36 + 30))
             for r in range(region.coarse.nrows) for c in range(region.coarse.ncols)]  # fmt: skip
    read = [coarse_values(path, region, cell) for cell in cells]

    def step_aside(*args: object) -> None:
        raise UnsupportedFileError("forced")

    monkeypatch.setattr(series_module, "_read_coarse_hdf5", step_aside)
    assert_allclose(read, [coarse_values(path, region, cell) for cell in cells], rtol=0, atol=0)


def test_the_pixel_reads_gdal_settings_do_not_outlive_the_series(products) -> None:
    _series(products, 54, 70)
    for key in PIXEL_READ_GDAL:
        assert rasterio.env.get_gdal_config(key) is None, key


def test_unreadable_day_inputs_make_the_day_unreadable(products, tmp_path: Path) -> None:
    layout = WorkLayout(tmp_path)
    write_access_day(layout, products.region, FIRST)
    (layout.inputs_dir(FIRST) / "coarse.nc").write_bytes(b"not netCDF")
    lon, lat = _centre(products.region, 54, 70)
    day = point_series(layout, products.region, lon, lat, FIRST, FIRST).days[0]
    assert day.status == UNREADABLE and "coarse.nc cannot be read" in day.reason


def test_inputs_removed_after_production_leave_smap_empty(products, tmp_path: Path) -> None:
    shutil.copytree(products.layout.root / "products", tmp_path / "products")
    lon, lat = _centre(products.region, 54, 70)
    day = point_series(WorkLayout(tmp_path), products.region, lon, lat, FIRST, FIRST).days[0]
    assert day.status == PRODUCT and np.isfinite(day.soil_moisture)
    assert np.isnan(day.smap) and np.isnan(day.bilinear_smap)


def test_csv_has_the_same_rows(products, tmp_path: Path) -> None:
    series = _series(products, 45, 65)
    path = write_series_csv(series, tmp_path / "out" / "series.csv")
    assert path.read_text() == series_csv(series)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["status"] for row in rows] == [PRODUCT, PRODUCT, MISSING, PRODUCT]
    for row, day in zip(rows, series.days, strict=True):
        if day.status == PRODUCT:
            assert_allclose(float(row["soil_moisture"]), day.soil_moisture, rtol=1e-6)
            assert_allclose(float(row["bilinear_smap"]), day.bilinear_smap, rtol=1e-6)
            assert (int(row["qa"]), row["qa_flags"].split()) == (day.qa, list(day.qa_flags))
    assert rows[2]["soil_moisture"] == rows[2]["qa"] == ""
    assert sorted(p.name for p in path.parent.iterdir()) == ["series.csv"]  # no temporaries left


def test_plot_draws_the_series(products, tmp_path: Path) -> None:
    path = plot_series(_series(products, 54, 70), tmp_path / "series.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 100)  # the tab:blue soil-moisture line
    grey = np.all(np.abs(pixels.astype(int) - 230) <= 1, axis=-1)  # the missing day (colour "0.9")
    assert blue.sum() > 100 and grey.sum() > 1000
