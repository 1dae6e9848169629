"""Standard STAC clients over ``smprod catalog serve``: pystac-client searches the served API and
odc-stac loads the items it returns, through the assets' served HTTP URLs, into an xarray cube
whose grid, nodata and values are the COG files' own (read with rioxarray)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from smprod.grids.ease import CELL_SIZE
from smprod.layout import WorkLayout
from tests.browser.conftest import free_port
from tests.catalog_days import TINY_BBOX, publish_days, start_serve, stop_serve, tiny_region

DAYS = [date(2024, 6, 1) + timedelta(days=i) for i in range(4)]
BANDS = ("soil_moisture", "qa", "uncertainty")
#: GDAL over HTTP as a remote client would set it: no directory listing, only the file itself.
GDAL_REMOTE = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """Four published days served as a user serves them; yields (work directory, STAC API URL)."""
    root = tmp_path_factory.mktemp("work")
    publish_days(root, DAYS, tiny_region())
    process, urls = start_serve(root, free_port(), free_port())
    try:
        yield root, urls["STAC API"]
    finally:
        assert stop_serve(process) == 0


def _search(api: str, **query: object) -> list:
    from pystac_client import Client

    return sorted(Client.open(api).search(collections=["smprod-sm-1km"], **query).items(), key=lambda i: i.id)


def test_pystac_client_finds_the_days_by_bbox_and_datetime(served: tuple[Path, str]) -> None:
    _, api = served
    found = _search(api, bbox=list(TINY_BBOX), datetime="2024-06-02/2024-06-03")
    assert [item.id for item in found] == ["smprod-sm-1km-20240602", "smprod-sm-1km-20240603"]
    assert _search(api, bbox=[10.0, 45.0, 11.0, 46.0], datetime="2024-06-02/2024-06-03") == []


def test_odc_stac_loads_the_served_items_as_the_files_are(served: tuple[Path, str]) -> None:
    import odc.stac
    import rasterio
    import rioxarray

    root, api = served
    items = _search(api, bbox=list(TINY_BBOX), datetime="2024-06-01/2024-06-04")
    assert len(items) == len(DAYS)
    hrefs = [item.assets[band].href for item in items for band in BANDS]
    assert all(href.startswith("http://127.0.0.1:") for href in hrefs)  # loaded over HTTP, not from disk
    with rasterio.Env(**GDAL_REMOTE):
        cube = odc.stac.load(items, bands=list(BANDS), groupby="id").load()
    assert cube.odc.crs.epsg == 6933
    assert cube.odc.geobox.resolution.x == CELL_SIZE[1] and cube.odc.geobox.resolution.y == -CELL_SIZE[1]
    assert cube.sizes["time"] == len(DAYS)
    layout = WorkLayout(root)
    for t, day in enumerate(DAYS):
        for band in BANDS:
            path = layout.product_files(day).cogs()[band]
            local = rioxarray.open_rasterio(path, masked=False).squeeze("band", drop=True)
            loaded = cube[band].isel(time=t)
            assert loaded.odc.geobox == local.odc.geobox, band  # same grid cell for cell
            assert loaded.dtype == local.dtype, band
            np.testing.assert_array_equal(loaded.values, local.values, err_msg=f"{day} {band}")  # NaN == NaN
            nodata = loaded.attrs["nodata"]
            assert nodata == local.rio.nodata or (np.isnan(nodata) and np.isnan(local.rio.nodata)), band
