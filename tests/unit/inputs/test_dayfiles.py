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
    PRECIP_FILLED,
    PRECIP_FILLED_3D,
    PRECIP_FILLED_DAY,
    SMAP_LAGS,
    InputStore,
    array_digest,
    day_attrs,
    fill_precip,
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


def test_fill_precip_keeps_complete_days_bit_for_bit():
    rng = np.random.default_rng(1)
    days = [rng.gamma(0.5, 4.0, (3, 4)).astype(np.float32) for _ in range(3)]
    out = fill_precip(days, (3, 4))
    assert_array_equal(out.precip, days[0]) and out.precip.dtype == np.float32
    assert out.precip_3d.tobytes() == precip_total(days, (3, 4)).tobytes()
    assert not out.filled.any()


def test_fill_precip_completes_missing_days_with_the_mean_of_the_valid_ones():
    d0 = np.array([[1.0, np.nan, np.nan]], np.float32)
    d2 = np.array([[3.0, 5.0, np.nan]], np.float32)
    out = fill_precip([d0, None, d2], (1, 3))  # D-1 has no usable IMERG run at all
    # pixel 0: D-1 = mean(1, 3) = 2 -> 3-day sum 6; pixel 1: D and D-1 = 5 -> 15; pixel 2: no rain
    assert_array_equal(out.precip, [[1.0, 5.0, 0.0]])
    assert_array_equal(out.precip_3d, [[6.0, 15.0, 0.0]])
    assert_array_equal(out.filled, [[PRECIP_FILLED_3D, PRECIP_FILLED_DAY | PRECIP_FILLED_3D] * 1 + [3]])
    nothing = fill_precip([None, None, None], (1, 3))
    assert_array_equal(nothing.precip_3d, 0.0) and (nothing.filled == 3).all()


def test_a_digest_is_of_the_values_as_stored():
    a = np.array([1.0, np.nan], np.float32)
    assert array_digest(a) == array_digest(a.copy()) and len(array_digest(a)) == 16
    assert array_digest(a) == array_digest(np.array([1.0, -np.nan], np.float32))  # every NaN alike
    assert array_digest(a) != array_digest(a.astype(np.float64))
    assert array_digest(a) != array_digest(np.array([1.0, 2.0], np.float32))


def _day(region):
    fine = {name: np.full(region.fine.shape, 1.0, np.float32) for name in FINE_VARIABLES}
    fine["landcover"] = np.full(region.fine.shape, LANDCOVER_NODATA, np.int16)
    smap = xr.Dataset({n: (("y", "x"), np.full(region.coarse.shape, 0.2)) for n in ("sm", "sm_am", "sm_pm")})
    lags = {n: np.full(region.coarse.shape, 0.1, np.float32) for n in SMAP_LAGS}
    return fine, smap, lags


def test_written_files_record_the_digest_of_every_variable(tmp_path):
    region = region_from_bbox((-97.5, 35.0, -97.3, 35.2), 36)
    fine, smap, lags = _day(region)
    attrs = day_attrs(DAY, {}, smap_release="R1", precip_run="Final", coarse_product="SPL3SMP")
    fine_path, coarse_path = write_day_inputs(WorkLayout(tmp_path), region, DAY, fine, smap, lags, attrs)
    digests = read_record(fine_path).digests
    assert set(digests) == set(FINE_VARIABLES) and digests["ndvi"] == array_digest(fine["ndvi"])
    coarse = read_record(coarse_path).digests
    assert {"sm", "sm_lag3", "elevation"} <= set(coarse)
    with xr.open_dataset(coarse_path) as ds:  # what the file holds is what was digested
        assert coarse["sm"] == array_digest(ds["sm"].values.astype(np.float32))
    fine["elevation"] = fine["elevation"] + 500.0
    fine_path, _ = write_day_inputs(WorkLayout(tmp_path), region, DAY, fine, smap, lags, attrs)
    again = read_record(fine_path).digests
    assert {name for name in digests if digests[name] != again[name]} == {"elevation"}


def test_filled_precipitation_is_left_out_of_the_coarse_file(tmp_path):
    region = region_from_bbox((-97.5, 35.0, -97.3, 35.2), 36)
    fine, smap, lags = _day(region)
    filled = np.zeros(region.fine.shape, np.uint8)
    filled[: region.factor, :] = PRECIP_FILLED_3D  # the first row of cells: D-2 was filled
    fine[PRECIP_FILLED] = filled
    attrs = day_attrs(DAY, {}, smap_release="R1", precip_run="Final", coarse_product="SPL3SMP")
    fine_path, coarse_path = write_day_inputs(WorkLayout(tmp_path), region, DAY, fine, smap, lags, attrs)
    with xr.open_dataset(coarse_path) as coarse, xr.open_dataset(fine_path) as written:
        assert PRECIP_FILLED not in coarse and PRECIP_FILLED in written
        assert_array_equal(written[PRECIP_FILLED].values, filled)
        assert np.isnan(coarse["precip_3d"].values[0]).all() and (coarse["precip_3d"].values[1:] == 1).all()
        assert (coarse["precip"].values == 1).all()  # D itself was observed


def test_written_files_read_back_with_their_record(tmp_path):
    region = region_from_bbox((-97.5, 35.0, -97.3, 35.2), 36)
    layout = WorkLayout(tmp_path)
    fine, smap, lags = _day(region)
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


def test_a_window_reads_as_xarray_decodes_it(tmp_path):
    """The direct netCDF4 window read gives what xarray's CF decoding gives, variable by variable."""
    region = region_from_bbox((-97.5, 35.0, -96.9, 35.4), 36)
    layout = WorkLayout(tmp_path)
    fine, smap, lags = _day(region)
    rng = np.random.default_rng(3)
    for name in FINE_VARIABLES:
        fine[name] = rng.normal(300, 10, region.fine.shape).astype(np.float32)
        fine[name][rng.random(region.fine.shape) < 0.2] = np.nan
    classes = rng.integers(1, 17, region.fine.shape).astype(np.int16)
    classes[rng.random(region.fine.shape) < 0.2] = LANDCOVER_NODATA
    fine["landcover"] = classes
    attrs = day_attrs(DAY, {}, smap_release="R1", precip_run="Final", coarse_product="SPL3SMP")
    fine_path, _ = write_day_inputs(layout, region, DAY, fine, smap, lags, attrs)
    tile = region.fine.window(region.factor, 0, region.factor, 2 * region.factor)
    store = InputStore(layout)
    with xr.open_dataset(fine_path) as ds:
        for name in FINE_VARIABLES:
            expected = ds[name].values[tile.row0 - region.fine.row0 :][: tile.nrows, : tile.ncols]
            got = store.read(DAY, name, tile, region)
            assert got.dtype == expected.dtype, name
            assert_array_equal(got, expected)
    assert np.isnan(store.read(DAY, "landcover", tile, region)).any()  # the fill value is missing


def _days_written(layout, region, count):
    fine, smap, lags = _day(region)
    attrs = day_attrs(DAY, {}, smap_release="R1", precip_run="Final", coarse_product="SPL3SMP")
    days = [DAY + timedelta(days=k) for k in range(count)]
    for day in days:
        write_day_inputs(layout, region, day, fine, smap, lags, attrs)
    return days


def test_a_dropped_store_leaves_its_files_to_the_next_read_not_to_the_garbage_collector(tmp_path):
    region = region_from_bbox((-97.5, 35.0, -97.3, 35.2), 36)
    layout = WorkLayout(tmp_path)
    (day,) = _days_written(layout, region, 1)
    store = InputStore(layout)
    store.read(day, "ndvi", region.fine, region)
    (handle,) = store._handles.values()
    del store
    assert handle.isopen()  # not closed inside __del__, which may hold no lock
    with InputStore(layout) as other:
        other.read(day, "ndvi", region.fine, region)
        assert not handle.isopen()  # closed by that read, under the locks
        (own,) = other._handles.values()
    assert not own.isopen() and not other._handles  # closed on leaving the block


STRESS = """
import gc, sys, threading
from datetime import date
from pathlib import Path
from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import InputStore
from smprod.layout import WorkLayout
from smprod.science.predict import tiles

region = region_from_bbox((-97.5, 35.0, -96.5, 35.6), 36)
layout = WorkLayout(Path(sys.argv[1]))
days = [date.fromisoformat(d) for d in sys.argv[2:]]
windows = list(tiles(region, 1))
done = threading.Event()

def read_windows():
    store, k = InputStore(layout), 0
    while not done.is_set():
        store.read(days[k % len(days)], "lst_day", windows[k % len(windows)], region)
        k += 1

readers = [threading.Thread(target=read_windows) for _ in range(2)]
for thread in readers:
    thread.start()
for k in range(120):  # stores dropped while the others read, then collected
    store = InputStore(layout)
    for day in days:
        store.read(day, "ndvi", windows[k % len(windows)], region)
    del store
    gc.collect()
done.set()
for thread in readers:
    thread.join()
print("ok")
"""


def test_stores_dropped_while_other_threads_read_do_not_crash_the_process(tmp_path):
    """The garbage collector closed a dropped store's netCDF4 files in whatever thread it ran,
    without a lock, while the tile threads were inside netCDF-C: the process died of a
    segmentation fault (the throughput benchmark did, within seconds, as this script did)."""
    import subprocess
    import sys

    region = region_from_bbox((-97.5, 35.0, -96.5, 35.6), 36)
    days = _days_written(WorkLayout(tmp_path), region, 4)
    command = [sys.executable, "-c", STRESS, str(tmp_path), *map(str, days)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", (run.returncode, run.stderr[-2000:])
