"""The day-input contract: combination rules, attributes, writing and reading back."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import xarray as xr
from numpy.testing import assert_array_equal

from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import (
    FINE_VARIABLES,
    FINGERPRINT_ATTR,
    LAG_DAYS,
    LANDCOVER_NODATA,
    SMAP_LAGS,
    InputStore,
    day_attrs,
    lagged_smap,
    mean_valid,
    precip_total,
    read_record,
    write_day_inputs,
)
from smprod.layout import WorkLayout

DAY = date(2024, 6, 10)


def test_lag_days_follow_the_lag_rule():
    assert LAG_DAYS == 8 == max(max(backs) for backs in SMAP_LAGS.values())


def test_mean_valid_averages_what_is_finite():
    out = mean_valid([np.array([1.0, np.nan, np.nan]), np.array([3.0, 2.0, np.nan])])
    assert out.dtype == np.float32
    assert_array_equal(out, [2.0, 2.0, np.nan])


def test_lagged_smap_nearest_valid_day_ties_to_the_more_recent():
    shape = (1, 3)
    sm = {
        DAY - timedelta(days=3): np.array([[0.3, np.nan, np.nan]]),
        DAY - timedelta(days=2): np.array([[0.2, 0.2, np.nan]]),
        DAY - timedelta(days=4): np.array([[0.4, 0.4, 0.4]]),
    }
    out = lagged_smap(sm, DAY, shape)
    assert_array_equal(out["sm_lag3"], np.array([[0.3, 0.2, 0.4]], np.float32))
    assert np.isnan(out["sm_lag7"]).all()


def test_precip_total_is_nan_unless_every_day_exists():
    day = np.array([[1.0, np.nan]], np.float32)
    assert_array_equal(precip_total([day, day, day], (1, 2)), [[3.0, np.nan]])
    assert np.isnan(precip_total([day, None, day], (1, 2))).all()
    assert np.isnan(precip_total([day, day], (1, 2))).all()


def test_written_files_read_back_with_their_record(tmp_path):
    region = region_from_bbox((-97.5, 35.0, -97.3, 35.2), 36)
    layout = WorkLayout(tmp_path)
    fine = {name: np.full(region.fine.shape, 1.0, np.float32) for name in FINE_VARIABLES}
    fine["landcover"] = np.full(region.fine.shape, LANDCOVER_NODATA, np.int16)
    smap = xr.Dataset({n: (("y", "x"), np.full(region.coarse.shape, 0.2)) for n in ("sm", "sm_am", "sm_pm")})
    lags = {n: np.full(region.coarse.shape, 0.1, np.float32) for n in SMAP_LAGS}
    attrs = day_attrs(
        DAY, {"SPL3SMP": ["a.h5"]}, smap_release="R1", precip_run="Late", coarse_product="SPL3SMP",
        missing=["ndvi: none"], fingerprint="abc",
    )  # fmt: skip
    fine_path, coarse_path = write_day_inputs(layout, region, DAY, fine, smap, lags, attrs)
    record = read_record(coarse_path)
    assert (record.inputs, record.missing, record.smap_release, record.precip_run, record.fingerprint) == (
        {"SPL3SMP": ["a.h5"]}, ["ndvi: none"], "R1", "Late", "abc",
    )  # fmt: skip
    assert read_record(fine_path).fingerprint == "abc" and FINGERPRINT_ATTR == "ingest_fingerprint"
    store = InputStore(layout)
    assert store.has(DAY) and not store.has(DAY + timedelta(days=1))
    coarse = store.open(DAY, "coarse")
    assert set(FINE_VARIABLES) | {"sm", "sm_am", "sm_pm", *SMAP_LAGS} <= set(coarse.data_vars)
    assert coarse["landcover"].encoding["_FillValue"] == LANDCOVER_NODATA
    assert np.isnan(coarse["landcover"].values).all()  # no class anywhere: decoded as missing
    assert_array_equal(store.read(DAY, "ndvi", region.fine, region), fine["ndvi"])
