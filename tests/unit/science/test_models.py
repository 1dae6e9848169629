"""Every model kind: fits the coarse relation, calibrated sigma, save/load, splits, tiling."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from smprod.errors import ModelError
from smprod.inputs.dayfiles import InputStore
from smprod.qa import QA
from smprod.science.features import CLASS_CHECKED, PREDICTORS, RANGE_CHECKED
from smprod.science.models import SPREAD_BLOCK, load_model, make_model, member_spread
from smprod.science.predict import predict_region
from smprod.science.training import spatial_split, split_metrics, temporal_split, training_table


def _toy_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({name: rng.normal(size=n) for name in PREDICTORS})
    table["sm"] = 0.25 + 0.05 * np.tanh(table["sm_lag3"]) - 0.02 * table["lst_day"] + rng.normal(0, 0.01, n)
    table["day"] = np.repeat(np.arange(n // 20), 20)
    table["cell"] = np.tile(np.arange(20), n // 20)
    return table


@pytest.mark.parametrize("kind", ["rf", "xgb", "stack"])
def test_each_kind_learns_calibrates_and_round_trips(kind, tmp_path):
    table = _toy_table()
    train, test = temporal_split(table)
    model = make_model(kind, PREDICTORS).fit(
        table.loc[train, list(PREDICTORS)], table.loc[train, "sm"].to_numpy()
    )
    predicted = model.predict(table.loc[test, list(PREDICTORS)])
    metrics = split_metrics(predicted, table.loc[test, "sm"].to_numpy())
    assert metrics.r2 > 0.6, metrics
    coverage = model.calibrate(table.loc[test, list(PREDICTORS)], table.loc[test, "sm"].to_numpy())
    assert 0.62 < coverage < 0.74
    importances = model.feature_importances()
    assert set(importances) == set(PREDICTORS) and abs(sum(importances.values()) - 1) < 1e-9
    assert max(importances, key=importances.get) in ("sm_lag3", "lst_day")
    loaded = load_model(model.save(tmp_path / kind))
    assert_allclose(loaded.predict(table.loc[test]), predicted)
    _, sigma = loaded.predict_with_uncertainty(table.loc[test])
    assert np.all(sigma >= 0)


def test_terrain_bands_route_each_row_to_its_elevation_band(tmp_path):
    # Banding wraps one model of the kind per band whatever the kind (Downscaler._fit_bands), so
    # the forest stands for every kind here; the stacking ensemble made this test 2-3 minutes.
    kind = "rf"
    # Opposite relations below and above 0 m: one model per band learns both, one model cannot.
    table = _toy_table(1200)
    sign = np.where(table["elevation"] < 0, 1.0, -1.0)
    table["sm"] = 0.25 + 0.05 * sign * np.tanh(table["sm_lag3"])
    banded = make_model(kind, PREDICTORS, terrain_bands=2).fit(table[list(PREDICTORS)], table["sm"])
    assert banded.band_edges == pytest.approx([np.median(table["elevation"])])
    assert banded.band_samples == [600, 600]
    assert_allclose(banded.band_of(table), (table["elevation"] >= banded.band_edges[0]).astype(int))
    rows = table.iloc[:40]
    for band, model in enumerate(banded.band_models):  # every row predicted by its band's model
        mine = banded.band_of(rows) == band
        assert_allclose(banded.predict(rows)[mine], model.predict(rows[mine]))
    coverage = banded.calibrate(table[list(PREDICTORS)], table["sm"].to_numpy())
    assert 0.62 < coverage < 0.74
    train, test = temporal_split(table)
    errors = []
    for bands in (2, 1):
        model = make_model(kind, PREDICTORS, terrain_bands=bands)
        model.fit(table.loc[train, list(PREDICTORS)], table.loc[train, "sm"])
        errors.append(np.abs(model.predict(table.loc[test]) - table.loc[test, "sm"]).mean())
    assert errors[0] < 0.9 * errors[1], errors  # bands: (2, 1)
    importances = banded.feature_importances()
    assert abs(sum(importances.values()) - 1) < 1e-9
    loaded = load_model(banded.save(tmp_path / "banded"))
    assert_allclose(loaded.predict_with_uncertainty(rows)[1], banded.predict_with_uncertainty(rows)[1])


def test_terrain_bands_need_elevation_and_enough_samples_per_band():
    table = _toy_table(600)
    with pytest.raises(ModelError, match="training samples in a band"):
        make_model("rf", PREDICTORS, terrain_bands=7).fit(table[list(PREDICTORS)], table["sm"])
    without = tuple(p for p in PREDICTORS if p != "elevation")
    with pytest.raises(ModelError, match="need the 'elevation' predictor"):
        make_model("rf", without, terrain_bands=2).fit(table[list(without)], table["sm"])
    with pytest.raises(ModelError, match="at least 1"):
        make_model("rf", PREDICTORS, terrain_bands=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_member_spread_in_blocks_equals_numpy_std_to_the_bit(dtype):
    members = np.random.default_rng(3).normal(0.25, 0.04, (80, 2 * SPREAD_BLOCK + 777)).astype(dtype)
    spread = member_spread(members)
    assert spread.dtype == dtype
    assert np.array_equal(spread, members.std(axis=0))


def test_splits_hold_out_half_the_days_or_cells_and_are_disjoint():
    table = _toy_table()
    train, test = temporal_split(table, seed=3)
    assert set(table.loc[train, "day"]).isdisjoint(table.loc[test, "day"])
    assert table.loc[test, "day"].nunique() == table["day"].nunique() // 2
    train, test = spatial_split(table, seed=3)
    assert set(table.loc[train, "cell"]).isdisjoint(table.loc[test, "cell"])
    assert table.loc[test, "cell"].nunique() == 10


def test_unknown_kind_and_tiny_tables_are_refused():
    with pytest.raises(ModelError, match="unknown model kind"):
        make_model("svm", PREDICTORS)
    with pytest.raises(ModelError, match="training samples"):
        make_model("rf", PREDICTORS).fit(_toy_table(40).iloc[:10], np.zeros(10))


@pytest.mark.integration
def test_tiled_prediction_equals_untiled_and_flags_extrapolation(small_world):
    store = InputStore(small_world.layout)
    table = training_table(small_world.days[8:14], small_world.region, store)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    day = small_world.days[15]
    tiled = predict_region(model, day, small_world.region, store, size=1)
    whole = predict_region(model, day, small_world.region, store, size=100)
    assert_allclose(tiled.values, whole.values)
    np.testing.assert_array_equal(tiled.qa, whole.qa)
    assert np.isfinite(whole.values).mean() > 0.99
    # a day after the window is not extrapolation as such: the flag marks some pixels, not all
    # (the 6-day window of this tiny world is narrow: 1 km LST and NDVI often leave its range)
    flagged = (whole.qa & QA.OUT_OF_TRAINING_RANGE) > 0
    assert 0 < flagged[np.isfinite(whole.values)].mean() < 0.9


def test_extrapolation_is_judged_on_the_named_predictors_and_unseen_classes(tmp_path):
    table = _toy_table()
    table["landcover"] = np.tile([5.0, 10.0, 12.0], len(table) // 3)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    assert model.ranges["ndvi"] == (table["ndvi"].min(), table["ndvi"].max())
    assert model.classes == {"landcover": [5.0, 10.0, 12.0]}  # only the class-like predictor
    rows = table.iloc[:4].copy()
    rows.loc[rows.index[1], "ndvi"] = table["ndvi"].max() + 0.1  # checked, beyond the range
    rows.loc[rows.index[2], "doy_sin"] = table["doy_sin"].max() + 1  # not checked: calendar
    rows.loc[rows.index[3], "landcover"] = 7.0  # a class never seen in training
    rows.loc[rows.index[0], "precip"] = table["precip"].min() - 1  # drier than training: not flagged
    assert model.out_of_range(rows, RANGE_CHECKED, CLASS_CHECKED).tolist() == [False, True, False, True]
    assert model.out_of_range(rows).tolist() == [True, True, True, False]  # every range, no classes
    del model.classes  # as a model pickled before classes were recorded (an older champion)
    joblib.dump(model, tmp_path / "old.joblib")
    loaded = joblib.load(tmp_path / "old.joblib")
    assert loaded.classes == {}
    assert loaded.out_of_range(rows, RANGE_CHECKED, CLASS_CHECKED).tolist() == [False, True, False, False]
