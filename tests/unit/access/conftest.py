"""A tiny work directory of real product days for the access tests.

The products are written by the project's own writers: the COGs, thumbnail and provenance by
:func:`smprod.product.write_product` (after :func:`smprod.science.correction.conserve_mass`), the day
inputs ``coarse.nc`` by :func:`smprod.inputs.dayfiles.write_day_inputs`. Three by four coarse cells of
36 km (108 x 144 pixels) give every pixel of the middle row both neighbours for the bilinear
baseline, and keep a day to a fraction of a second.
"""

from __future__ import annotations

import types
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from smprod.grids.ease import Region, region_from_bbox
from smprod.inputs.dayfiles import FINE_VARIABLES, LANDCOVER_NODATA, write_day_inputs
from smprod.layout import WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.write import write_product
from smprod.qa import QA
from smprod.science.correction import conserve_mass

#: 3 x 4 cells of 36 km over Oklahoma.
ACCESS_BBOX = (-98.0, 35.0, -96.8, 35.7)
#: Product days written; 2024-06-03 is never produced (a missing day).
PRODUCT_DAYS = (date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 4))
MISSING_DAY = date(2024, 6, 3)
#: Pixels (rows, cols of the 1 km grid) with QA bits set on purpose, and pixels without a value.
GAP_FILLED_ROWS = slice(40, 50)
OUT_OF_RANGE_COLS = slice(60, 70)
NO_VALUE = (slice(0, 5), slice(0, 7))


def access_region() -> Region:
    region = region_from_bbox(ACCESS_BBOX, 36)
    assert region.coarse.shape == (3, 4), region.coarse.shape  # the tests' size budget
    return region


def _qa(region: Region, correction_qa: np.ndarray) -> np.ndarray:
    qa = correction_qa.astype(np.uint8)
    qa[GAP_FILLED_ROWS, :] |= np.uint8(QA.MODIS_GAP_FILLED)
    qa[:, OUT_OF_RANGE_COLS] |= np.uint8(QA.OUT_OF_TRAINING_RANGE)
    return qa


def write_access_day(layout: WorkLayout, region: Region, day: date) -> np.ndarray:
    """Write one product day and its ``coarse.nc`` from seeded fields; returns the coarse ``sm``."""
    rng = np.random.default_rng(day.toordinal())
    smap = rng.uniform(0.1, 0.4, region.coarse.shape).astype(np.float32)
    smap[2, 3] = np.nan  # a swath gap: no SMAP, no mass constraint
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0, 0.04, region.fine.shape)
    model[np.isnan(model)] = rng.uniform(0.1, 0.4)
    model[NO_VALUE] = np.nan
    corrected = conserve_mass(model, smap, region.factor)
    sigma = np.abs(rng.normal(0.03, 0.01, region.fine.shape))
    info = ProductInfo(
        day,
        region,
        ModelInfo("smprod-downscaler", "3", "run000003", "rf"),
        {},
        "SPL3SMP",
        "R19240_001",
        "Final",
    )
    write_product(layout.product_files(day), corrected.values, _qa(region, corrected.qa), sigma, info)
    _write_inputs(layout, region, day, smap)
    return smap


def _write_inputs(layout: WorkLayout, region: Region, day: date, smap: np.ndarray) -> None:
    nan_fine = np.full(region.fine.shape, np.nan, np.float32)
    fine = {name: nan_fine for name in FINE_VARIABLES}
    fine["landcover"] = np.full(region.fine.shape, LANDCOVER_NODATA, np.int16)
    passes = xr.Dataset(
        {name: (("y", "x"), smap) for name in ("sm", "sm_am", "sm_pm")}, coords=region.coarse.coords()
    )
    lags = {name: np.full(region.coarse.shape, np.nan, np.float32) for name in ("sm_lag3", "sm_lag7")}
    write_day_inputs(layout, region, day, fine, passes, lags, {"day": day.isoformat()})


@pytest.fixture(scope="package")
def products(tmp_path_factory: pytest.TempPathFactory) -> types.SimpleNamespace:
    """The work directory: ``layout``, ``region``, ``days`` and each day's coarse ``sm``."""
    root: Path = tmp_path_factory.mktemp("access_work")
    layout, region = WorkLayout(root), access_region()
    coarse = {day: write_access_day(layout, region, day) for day in PRODUCT_DAYS}
    return types.SimpleNamespace(layout=layout, region=region, days=PRODUCT_DAYS, coarse=coarse)


def cog_values(layout: WorkLayout, day: date) -> dict[str, np.ndarray]:
    """Every pixel of the day's COGs, read with rasterio independently of smprod's readers."""
    import rasterio

    values = {}
    for key, path in layout.product_files(day).cogs().items():
        with rasterio.open(path) as ds:
            values[key] = ds.read(1)
    return values
