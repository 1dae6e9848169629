"""The sub-grid anomaly model: local means, a learned deviation relation, the blend, tiling."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from smprod.grids.regrid import block_mean
from smprod.inputs.dayfiles import InputStore
from smprod.mlops.lifecycle import fit_calibrated, split_holdout
from smprod.science.features import PREDICTORS
from smprod.science.models import Downscaler, make_model
from smprod.science.predict import predict_region
from smprod.science.subgrid import LOCAL_SUFFIX, SUBGRID_PREDICTORS, SubgridModel, add_local_means, blend
from smprod.science.training import training_table

SHAPE = (8, 10)


def _grid_table(days: int = 30, seed: int = 0) -> pd.DataFrame:
    """Coarse cells of ``days`` days whose SMAP deviations follow -0.01 x the LST deviations."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        frame = pd.DataFrame({name: rng.normal(size=SHAPE[0] * SHAPE[1]) for name in PREDICTORS})
        frame["lst_day"] = 300 + 4 * rng.normal(size=len(frame))
        frame["sm"] = 0.25 + 0.003 * day - 0.01 * (frame["lst_day"] - 300)
        frame["day"], frame["cell"] = day, np.arange(len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_local_means_are_the_neighbourhood_of_each_day():
    table = _grid_table(days=2)
    table.loc[table["day"] == 1, "elevation"] = 250.0  # a constant field: its local mean is itself
    rows, cols = np.divmod(table["cell"].to_numpy(), SHAPE[1])
    table["slope"] = 2.0 * cols + 0.5 * rows  # a plane: its Gaussian mean away from the edges is itself
    local = add_local_means(table, SHAPE, cell_km=36.0)
    assert_allclose(local.loc[local["day"] == 1, "elevation" + LOCAL_SUFFIX], 250.0)
    inner = (rows >= 3) & (rows < SHAPE[0] - 3) & (cols >= 3) & (cols < SHAPE[1] - 3)
    assert_allclose(local.loc[inner, "slope" + LOCAL_SUFFIX], local.loc[inner, "slope"], atol=0.01)
    # each day's neighbourhood is its own: the day-0 means differ from the day-1 ones
    day0 = local.loc[local["day"] == 0, "lst_day" + LOCAL_SUFFIX].to_numpy()
    day1 = local.loc[local["day"] == 1, "lst_day" + LOCAL_SUFFIX].to_numpy()
    assert not np.allclose(day0, day1)


def test_the_deviation_relation_is_learned_and_applied_to_pixels_of_a_cell():
    model = SubgridModel().fit(add_local_means(_grid_table(), SHAPE, cell_km=36.0))
    assert model.samples == 30 * SHAPE[0] * SHAPE[1]
    rng = np.random.default_rng(1)
    factor, shape = 6, (12, 18)
    features = pd.DataFrame({name: rng.normal(size=shape[0] * shape[1]) for name in SUBGRID_PREDICTORS})
    features["lst_day"] = 300 + 3 * rng.normal(size=len(features))
    anomaly = model.anomaly(features, shape, factor)
    assert_allclose(block_mean(anomaly, factor), 0.0, atol=1e-12)  # zero mean in every cell
    lst = features["lst_day"].to_numpy().reshape(shape)
    lst_deviation = lst - np.repeat(np.repeat(block_mean(lst, factor), factor, 0), factor, 1)
    assert np.corrcoef(anomaly.ravel(), lst_deviation.ravel())[0, 1] < -0.9


def test_a_fitted_model_takes_the_persistent_lst_anomalies_in_place_of_the_days():
    model = SubgridModel().fit(add_local_means(_grid_table(), SHAPE, cell_km=36.0))
    assert model.persistent and model.keep_amplitude
    rng = np.random.default_rng(2)
    factor, shape = 6, (12, 18)
    features = pd.DataFrame({name: rng.normal(size=shape[0] * shape[1]) for name in SUBGRID_PREDICTORS})
    pattern = 3 * rng.normal(size=shape)
    pattern -= np.repeat(np.repeat(block_mean(pattern, factor), factor, 0), factor, 1)  # as a deviation is
    persistent = {"lst_day": pattern, "lst_night": np.zeros(shape)}
    # the day's LST is noise around the persistent pattern: the anomaly follows the pattern alone
    features["lst_day"] = 300 + pattern.ravel() + 5 * rng.normal(size=len(features))
    with_pattern = model.anomaly(features, shape, factor, persistent)
    features_of_pattern = features.assign(lst_day=300 + pattern.ravel(), lst_night=0.0)
    assert_allclose(with_pattern, model.anomaly(features_of_pattern, shape, factor), atol=1e-12)
    assert np.corrcoef(with_pattern.ravel(), pattern.ravel())[0, 1] < -0.9
    # a model saved before persistent anomalies existed keeps the day's deviations
    state = dict(model.__dict__)
    del state["persistent"], state["keep_amplitude"]
    old = SubgridModel.__new__(SubgridModel)
    old.__dict__.update(state)
    assert not old.persistent and not old.keep_amplitude
    assert_allclose(old.anomaly(features, shape, factor, persistent), model.anomaly(features, shape, factor))


def test_blend_keeps_cell_means_and_rescales_the_subgrid_anomaly():
    rng = np.random.default_rng(2)
    factor = 4
    values = 0.3 + 0.02 * rng.normal(size=(8, 12))
    anomaly = rng.normal(size=values.shape)
    anomaly -= np.repeat(np.repeat(block_mean(anomaly, factor), factor, 0), factor, 1)
    out = blend(values, anomaly, factor, 0.5)
    assert_allclose(block_mean(out, factor), block_mean(values, factor), atol=1e-12)
    main = values - np.repeat(np.repeat(block_mean(values, factor), factor, 0), factor, 1)
    rescaled = anomaly * main.std() / anomaly.std()
    assert_allclose(out - values, 0.5 * (rescaled - main), atol=1e-12)
    assert_allclose(blend(values, anomaly, factor, 0.0), values)
    # keep_amplitude: the average of the two patterns, rescaled to the main one's spread
    kept = blend(values, anomaly, factor, 0.5, keep_amplitude=True)
    assert_allclose(block_mean(kept, factor), block_mean(values, factor), atol=1e-12)
    mixed = main + 0.5 * (rescaled - main)
    assert mixed.std() < 0.95 * main.std()  # two patterns that agree in part average smaller
    assert_allclose(kept - values, mixed * main.std() / mixed.std() - main, atol=1e-12)
    anomaly[0, 0] = np.nan  # a pixel without a sub-grid anomaly keeps the main value
    assert blend(values, anomaly, factor, 0.5)[0, 0] == values[0, 0]
    assert blend(values, anomaly, factor, 0.5, keep_amplitude=True)[0, 0] == values[0, 0]


def test_fit_calibrated_adds_the_subgrid_model_unless_its_blend_is_zero():
    fit_table, holdout = split_holdout(add_local_means(_grid_table(), SHAPE, cell_km=36.0))
    with_subgrid, _ = fit_calibrated("rf", fit_table, holdout)
    assert with_subgrid.subgrid is not None and with_subgrid.subgrid.blend == 0.5
    assert with_subgrid.subgrid.samples == len(fit_table) + len(holdout)  # the whole window
    alone, _ = fit_calibrated("rf", fit_table, holdout, subgrid_blend=0.0)
    assert alone.subgrid is None
    assert_allclose(alone.predict(holdout), with_subgrid.predict(holdout))  # coarse fit unchanged


def test_a_model_saved_before_the_subgrid_model_loads_without_one(tmp_path):
    fit_table, holdout = split_holdout(add_local_means(_grid_table(), SHAPE, cell_km=36.0))
    model, _ = fit_calibrated("rf", fit_table, holdout)
    state = dict(model.__dict__)
    del state["subgrid"]  # what a model pickled by an earlier smprod holds
    old = Downscaler.__new__(Downscaler)
    old.__setstate__(state)
    joblib.dump(old, tmp_path / "old.joblib")
    assert joblib.load(tmp_path / "old.joblib").subgrid is None


@pytest.mark.integration
def test_blended_prediction_does_not_depend_on_the_tiling(small_world):
    store = InputStore(small_world.layout)
    table = training_table(small_world.days[8:16], small_world.region, store)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    model.subgrid = SubgridModel().fit(table)
    day = small_world.days[17]
    tiled = predict_region(model, day, small_world.region, store, size=1)
    whole = predict_region(model, day, small_world.region, store, size=100)
    assert_allclose(tiled.values, whole.values, rtol=1e-6)
    factor = small_world.region.factor
    model.subgrid.blend = 0.0
    unblended = predict_region(model, day, small_world.region, store, size=100)
    # the blend changes the pattern inside cells, not the cell means
    assert not np.allclose(whole.values, unblended.values)
    assert_allclose(block_mean(whole.values, factor), block_mean(unblended.values, factor), atol=1e-6)
