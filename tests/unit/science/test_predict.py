"""Prediction of a region: tiles on threads give what one tile after another gives."""

from __future__ import annotations

import numpy as np

from smprod.inputs.dayfiles import InputStore
from smprod.science.features import PREDICTORS
from smprod.science.models import make_model
from smprod.science.predict import predict_region, predict_tile, tiles
from smprod.science.training import training_table


def test_tiles_predicted_on_threads_equal_the_tiles_one_by_one(small_world):
    store = InputStore(small_world.layout)
    region = small_world.region
    table = training_table(small_world.days[8:14], region, store)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    day = small_world.days[15]
    threaded = predict_region(model, day, region, store, size=1)
    parts = list(tiles(region, 1))
    assert len(parts) >= 4  # more tiles than threads: the order of completion varies
    for tile in parts:
        alone = predict_tile(model, day, region, InputStore(small_world.layout), tile)
        rows = slice(tile.row0 - region.fine.row0, tile.row0 - region.fine.row0 + tile.nrows)
        cols = slice(tile.col0 - region.fine.col0, tile.col0 - region.fine.col0 + tile.ncols)
        np.testing.assert_array_equal(threaded.values[rows, cols], alone.values)
        np.testing.assert_array_equal(threaded.sigma[rows, cols], alone.sigma)
        np.testing.assert_array_equal(threaded.qa[rows, cols], alone.qa)
