"""Predictors: the albedo formula, temporal gap filling, names, and the 1 km / coarse cubes."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.errors import MissingInputError
from smprod.inputs.dayfiles import InputStore
from smprod.layout import WorkLayout
from smprod.qa import QA
from smprod.science.features import (
    PERSISTENT_DAYS,
    PERSISTENT_INPUTS,
    PREDICTORS,
    albedo_from_bsa_wsa,
    coarse_features,
    fine_features,
    gap_fill,
    noon_solar_zenith,
    persistent_anomalies,
)


def test_albedo_formula_at_known_angles():
    # overhead sun: r = 0.122 + 0.85 e^-4.8 ; sun on the horizon: r = 0.972
    r0 = 0.122 + 0.85 * np.exp(-4.8)
    assert_allclose(albedo_from_bsa_wsa(0.2, 0.3, np.array(0.0)), 0.2 * (1 - r0) + 0.3 * r0)
    assert_allclose(albedo_from_bsa_wsa(0.2, 0.3, np.array(np.pi / 2)), 0.2 * 0.028 + 0.3 * 0.972)


def test_noon_zenith_follows_declination():
    # June solstice (DOY 172): sun overhead at ~23.45 N; equinox (DOY 80): over the equator
    assert_allclose(np.degrees(noon_solar_zenith(23.45, 172)), 0.0, atol=0.1)
    assert_allclose(np.degrees(noon_solar_zenith(40.0, 81)), 40.0, atol=0.6)


def test_predictor_names_are_the_designs():
    assert PREDICTORS == (
        "sm_lag3", "sm_lag7", "lst_day", "lst_night", "ndvi", "evi", "albedo", "precip", "precip_3d",
        "elevation", "slope", "sand", "silt", "clay", "landcover", "doy_sin", "doy_cos", "lat", "lon",
    )  # fmt: skip


@pytest.mark.integration
def test_fine_cube_is_seamless_and_flags_gap_filled_pixels(small_world):
    store = InputStore(small_world.layout)
    day = small_world.days[10]
    frame, qa = fine_features(day, small_world.region, store)
    filled = (qa & QA.MODIS_GAP_FILLED) > 0
    assert list(frame.columns) == list(PREDICTORS)
    assert len(frame) == small_world.region.fine.nrows * small_world.region.fine.ncols
    for name in ("lst_day", "lst_night", "ndvi", "albedo", "sm_lag3"):
        assert np.isfinite(frame[name]).all(), name
    raw = store.open(day, "fine")["lst_day"].values
    np.testing.assert_array_equal(filled & ~np.isfinite(raw), ~np.isfinite(raw))
    assert 0.1 < filled.mean() < 0.9  # cloudy days in the synthetic world


@pytest.mark.integration
def test_gap_fill_interpolates_linearly_between_neighbours(small_world, tmp_path):
    import shutil

    import xarray as xr

    days = small_world.days[4:7]
    layout = WorkLayout(tmp_path)
    for k, day in enumerate(days):
        for scale in ("fine", "coarse"):
            target = layout.inputs_dir(day) / f"{scale}.nc"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(small_world.layout.inputs_dir(day) / f"{scale}.nc", target)
        with xr.open_dataset(target.parent / "fine.nc") as ds:
            fine = ds.load()
        fine["lst_day"][:] = np.nan if k == 1 else 300.0 + 10 * k
        fine.to_netcdf(target.parent / "fine.nc")
    store = InputStore(layout)
    values, filled = gap_fill(days[1], "lst_day", store, lambda d: store.open(d, "fine")["lst_day"].values)
    assert filled.all()
    assert_allclose(values, 310.0)  # halfway between 300 and 320


def _cell_deviations(values: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel minus the nan-mean of its cell, by reshaping (independent of the library's blocks)."""
    rows, cols = values.shape
    blocks = values.reshape(rows // factor, factor, cols // factor, factor)
    valid = np.isfinite(blocks)
    with np.errstate(invalid="ignore", divide="ignore"):  # a cell without a clear pixel: NaN
        means = np.nansum(blocks, axis=(1, 3), keepdims=True) / valid.sum(axis=(1, 3), keepdims=True)
    return (blocks - means).reshape(rows, cols)


@pytest.mark.integration
def test_persistent_anomalies_average_the_clear_sky_cell_deviations_of_the_days_held(small_world):
    store, region = InputStore(small_world.layout), small_world.region
    day = small_world.days[-1]
    assert (day - small_world.days[0]).days >= PERSISTENT_DAYS  # the whole window is ingested
    window = [d for d in small_world.days if 0 <= (day - d).days <= PERSISTENT_DAYS]
    # a store limited to the input key's days reads only those; on one day the cloudy pixels are 0
    for held in (window, window[-1:]):
        anomalies = persistent_anomalies(day, region, store.only(held), None)
        assert set(anomalies) == set(PERSISTENT_INPUTS)
        for name in PERSISTENT_INPUTS:
            raw = [store.open(d, "fine")[name].values.astype(np.float64) for d in held]
            deviations = np.stack([_cell_deviations(values, region.factor) for values in raw])
            clear_days = np.isfinite(deviations).sum(axis=0)
            expected = np.nansum(deviations, axis=0) / np.maximum(clear_days, 1)
            assert (clear_days == 0).any() == (len(held) == 1)
            assert_allclose(anomalies[name], expected, atol=1e-9)  # 0 where never clear
    # a tile of whole cells gets the same values as the whole region
    tile = region.fine.window(0, 0, region.factor, 2 * region.factor)
    part = persistent_anomalies(day, region, store.only(window), tile)["lst_day"]
    whole = persistent_anomalies(day, region, store.only(window), None)["lst_day"]
    assert_allclose(part, whole[: region.factor, : 2 * region.factor])


@pytest.mark.integration
def test_coarse_table_and_missing_inputs(small_world, tmp_path):
    store = InputStore(small_world.layout)
    frame = coarse_features(small_world.days[9], small_world.region, store)
    assert {"sm", "day", "cell", *PREDICTORS} <= set(frame.columns)
    assert len(frame) == small_world.region.coarse.nrows * small_world.region.coarse.ncols
    with pytest.raises(MissingInputError, match="smprod ingest"):
        InputStore(WorkLayout(tmp_path)).open(small_world.days[0], "fine")


def test_a_lag_missing_around_a_corner_takes_the_nearest_cell_and_is_flagged():
    from smprod.science.features import _lag_window

    # 2 x 2 coarse cells of 4 x 4 pixels; the corner cell (0, 0) has no lag: its outer quadrant
    # has no valid cell in reach of bilinear weights, so it takes the nearest cell's value
    coarse = np.array([[np.nan, 0.2], [0.3, 0.4]])
    values, filled = _lag_window(coarse, 4, 0, 0, (8, 8))
    assert np.isfinite(values).all()
    assert filled[:2, :2].all() and filled.sum() == 4
    assert values[0, 0] in (0.2, 0.3)  # equidistant neighbours: either is the nearest
    tile, tile_filled = _lag_window(coarse, 4, 0, 0, (4, 4))  # a tile fills like the whole
    np.testing.assert_array_equal(tile, values[:4, :4])
    np.testing.assert_array_equal(tile_filled, filled[:4, :4])
