"""Area extracts from real product files: the window, the values, CF attributes, lon/lat, writing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from smprod.access.extract import (
    AreaWindow,
    ExtractFormat,
    area_window,
    check_format,
    extract_area,
    write_extract,
)
from smprod.errors import ConfigError, MissingInputError, ProductError
from smprod.grids.ease import lonlat_to_xy
from smprod.layout import WorkLayout
from smprod.qa import QA_DESCRIPTIONS
from tests.unit.access.conftest import MISSING_DAY, PRODUCT_DAYS, cog_values

FIRST, LAST = PRODUCT_DAYS[0], PRODUCT_DAYS[-1]
#: Inside the region (-98.0..-96.8 E, 35.0..35.7 N before snapping), away from its edges.
AREA = (-97.6, 35.2, -97.3, 35.45)
HISTORY = "2026-01-01T00:00:00Z smprod extract (test)"


@pytest.fixture(scope="module")
def window(products) -> AreaWindow:
    return area_window(products.region, AREA)


@pytest.fixture(scope="module")
def written(products, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dataset = extract_area(products.layout, products.region, AREA, FIRST, LAST, HISTORY)
    return write_extract(dataset, tmp_path_factory.mktemp("extract") / "area.nc", ExtractFormat.NETCDF)


def test_the_window_holds_every_cell_the_bbox_touches_and_no_more(products, window: AreaWindow) -> None:
    x, y = lonlat_to_xy(np.linspace(AREA[0], AREA[2], 50), np.linspace(AREA[1], AREA[3], 50))
    left, bottom, right, top = window.grid.bounds
    res = window.grid.res
    assert left <= x.min() < left + res and right - res < x.max() <= right  # outward, whole cells
    assert not window.clipped and window.grid.km == 1
    fine = products.region.fine
    assert (window.rows.start, window.cols.start) == (
        window.grid.row0 - fine.row0,
        window.grid.col0 - fine.col0,
    )
    assert bottom <= y.min() < bottom + res and top - res < y.max() <= top


def test_a_bbox_reaching_beyond_the_region_is_clipped_to_it(products) -> None:
    window = area_window(products.region, (-99.0, 35.3, -97.5, 36.5))
    assert window.clipped
    assert (window.rows.start, window.cols.start) == (0, 0)
    assert window.rows.stop < products.region.fine.nrows and window.cols.stop < products.region.fine.ncols


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((2.0, 43.0, 3.0, 44.0), r"bbox \(2.0, 43.0, 3.0, 44.0\) is outside the region \(lon -98"),
        ((-97.0, 35.2, -97.5, 35.4), "minlon -97 > maxlon -97.5: the longitude pair looks swapped"),
    ],
)
def test_a_bbox_outside_the_region_or_malformed_is_a_config_error(products, bbox, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        area_window(products.region, bbox)


def test_values_equal_the_cog_windows_day_by_day(products, window: AreaWindow) -> None:
    dataset = extract_area(products.layout, products.region, AREA, FIRST, LAST, HISTORY)
    assert dataset["soil_moisture"].dims == ("time", "y", "x")
    assert [str(t)[:10] for t in dataset["time"].values] == [str(day) for day in PRODUCT_DAYS]
    for index, day in enumerate(PRODUCT_DAYS):
        cog = cog_values(products.layout, day)
        for key in ("soil_moisture", "uncertainty", "qa"):
            assert_array_equal(dataset[key].values[index], cog[key][window.rows, window.cols])
    assert_allclose(dataset["x"].values, window.grid.x)
    assert_allclose(dataset["y"].values, window.grid.y)


def test_the_file_is_cf_with_the_days_included_and_missing(written: Path) -> None:
    with netCDF4.Dataset(written) as raw:  # the attributes as written, before xarray decodes them
        assert raw.Conventions == "CF-1.8"
        assert raw.product_days.split() == [str(day) for day in PRODUCT_DAYS]
        assert raw.missing_days.split() == [str(MISSING_DAY)]
        assert raw.source.startswith("smprod 0.1.0") and raw.history == HISTORY and raw.title
        for name in ("soil_moisture", "uncertainty", "qa"):
            assert raw[name].grid_mapping == "spatial_ref" and raw[name].long_name
        assert raw["soil_moisture"].units == raw["uncertainty"].units == "m3/m3"
        assert np.isnan(raw["soil_moisture"]._FillValue) and raw["qa"]._FillValue == 255
        assert_array_equal(raw["qa"].flag_masks, list(QA_DESCRIPTIONS))
        assert raw["qa"].flag_meanings.split() == list(QA_DESCRIPTIONS.values())
        for axis in ("x", "y"):
            assert raw[axis].units == "m" and raw[axis].standard_name == f"projection_{axis}_coordinate"
            assert "_FillValue" not in raw[axis].ncattrs()
        assert raw["spatial_ref"].grid_mapping_name == "lambert_cylindrical_equal_area"
        assert raw["time"].units.startswith("days since 1970-01-01") and raw["time"].bounds == "time_bnds"
        noon = float(raw["time"][0])
        assert_allclose(raw["time_bnds"][0], [noon - 0.5, noon + 0.5])  # the UTC day around noon


def test_the_file_reopens_with_the_crs_transform_and_values(products, written: Path, window) -> None:
    with xr.open_dataset(written, decode_coords="all", mask_and_scale=False) as dataset:
        assert dataset.rio.crs.to_epsg() == 6933
        assert_allclose(tuple(dataset.rio.transform())[:6], tuple(window.grid.transform)[:6], atol=1e-6)
        cog = cog_values(products.layout, LAST)
        assert_array_equal(dataset["qa"].values[-1], cog["qa"][window.rows, window.cols])
        assert_array_equal(
            dataset["soil_moisture"].values[-1], cog["soil_moisture"][window.rows, window.cols]
        )
    assert sorted(p.name for p in written.parent.iterdir()) == ["area.nc"]  # no temporaries left


def test_latlon_is_epsg_4326_and_says_how_it_was_resampled(products, tmp_path: Path) -> None:
    dataset = extract_area(products.layout, products.region, AREA, FIRST, LAST, HISTORY, latlon=True)
    path = write_extract(dataset, tmp_path / "area_latlon.nc", ExtractFormat.NETCDF)
    source = extract_area(products.layout, products.region, AREA, FIRST, LAST, HISTORY)
    with xr.open_dataset(path, decode_coords="all", mask_and_scale=False) as reopened:
        assert reopened.rio.crs.to_epsg() == 4326
        assert "bilinear for soil_moisture and uncertainty, nearest for qa" in reopened.attrs["reprojection"]
        assert (
            reopened["x"].attrs["units"] == "degrees_east" and reopened["y"].attrs["units"] == "degrees_north"
        )
        qa = reopened["qa"].values
        assert set(np.unique(qa).tolist()) <= set(np.unique(source["qa"].values).tolist()) | {255}
        sm = reopened["soil_moisture"].values
        assert_allclose(np.nanmean(sm), np.nanmean(source["soil_moisture"].values), atol=0.005)
        west, south, east, north = reopened.rio.bounds()
        assert west <= AREA[0] and east >= AREA[2] and south <= AREA[1] and north >= AREA[3]


def test_no_product_in_the_range_is_a_missing_input_error(products) -> None:
    with pytest.raises(MissingInputError, match="no product between 2024-06-03 and 2024-06-03"):
        extract_area(products.layout, products.region, AREA, MISSING_DAY, MISSING_DAY, HISTORY)


def test_an_unreadable_day_stops_the_extract_naming_the_check(products, tmp_path: Path) -> None:
    from tests.unit.access.conftest import write_access_day

    layout = WorkLayout(tmp_path)
    write_access_day(layout, products.region, FIRST)
    layout.product_files(FIRST).uncertainty.write_bytes(b"not a tiff")
    with pytest.raises(ProductError, match=f"smprod product check {FIRST}"):
        extract_area(layout, products.region, AREA, FIRST, FIRST, HISTORY)


def test_a_failed_write_leaves_nothing_behind(products, tmp_path: Path) -> None:
    dataset = extract_area(products.layout, products.region, AREA, FIRST, FIRST, HISTORY)
    dataset.attrs["not_serialisable"] = {"a": 1}
    target = tmp_path / "area.nc"
    with pytest.raises(ProductError, match="extract not written to"):
        write_extract(dataset, target, ExtractFormat.NETCDF)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("zarr") is not None, reason="zarr is installed here")
def test_zarr_without_the_package_is_a_config_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match=r"--format zarr needs the Python package 'zarr'.*use --format netcdf"
    ):
        check_format(ExtractFormat.ZARR)
    check_format(ExtractFormat.NETCDF)  # always available
