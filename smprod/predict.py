"""Prediction of a region at 1 km, tile by tile, so peak memory does not grow with the region.

Tiles are windows of whole coarse cells (:attr:`Region.tile_cells` per side, about 144 km), so
every tile can be mass-corrected on its own and the results equal an untiled run. A tile reads
only its own window of the 1 km inputs (:meth:`InputStore.read`), so memory is set by the tile
and the output layers, not by the region.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from smprod.features import InputStore, fine_features
from smprod.grid import Region, RegionGrid
from smprod.models.base import Downscaler
from smprod.qa import QA


@dataclass
class Prediction:
    """The model's 1 km field of a day before mass correction."""

    values: NDArray[np.float32]
    sigma: NDArray[np.float32]
    qa: NDArray[np.uint8]


def tiles(region: Region, size: int | None = None) -> Iterator[RegionGrid]:
    """Windows of ``region.fine`` made of up to ``size x size`` whole coarse cells (row-major).

    ``size`` defaults to :attr:`Region.tile_cells`.
    """
    size = size or region.tile_cells
    f = region.factor
    for r in range(0, region.coarse.nrows, size):
        for c in range(0, region.coarse.ncols, size):
            rows = min(size, region.coarse.nrows - r) * f
            cols = min(size, region.coarse.ncols - c) * f
            yield region.fine.window(r * f, c * f, rows, cols)


def predict_tile(
    model: Downscaler, day: date, region: Region, store: InputStore, tile: RegionGrid
) -> Prediction:
    """Predict one tile; pixels with an incomplete predictor row get NaN and NO_RETRIEVAL."""
    features, filled = fine_features(day, region, store, tile)
    complete = np.isfinite(features.to_numpy(np.float64)).all(axis=1)
    values = np.full(len(features), np.nan, np.float32)
    sigma = np.full(len(features), np.nan, np.float32)
    qa = np.zeros(len(features), np.uint8)
    if complete.any():
        rows = features.loc[complete]
        mean, spread = model.predict_with_uncertainty(rows)
        values[complete], sigma[complete] = mean, spread
        qa[complete] |= np.where(model.out_of_range(rows), np.uint8(QA.OUT_OF_TRAINING_RANGE), 0).astype(
            np.uint8
        )
    qa[~complete] |= np.uint8(QA.NO_RETRIEVAL)
    qa |= np.where(filled.ravel(), np.uint8(QA.MODIS_GAP_FILLED), 0).astype(np.uint8)
    return Prediction(values.reshape(tile.shape), sigma.reshape(tile.shape), qa.reshape(tile.shape))


def predict_region(
    model: Downscaler, day: date, region: Region, store: InputStore, size: int | None = None
) -> Prediction:
    """Predict the whole region tile by tile into preallocated output arrays."""
    out = Prediction(
        np.full(region.fine.shape, np.nan, np.float32),
        np.full(region.fine.shape, np.nan, np.float32),
        np.zeros(region.fine.shape, np.uint8),
    )
    for tile in tiles(region, size):
        part = predict_tile(model, day, region, store, tile)
        rows = slice(tile.row0 - region.fine.row0, tile.row0 - region.fine.row0 + tile.nrows)
        cols = slice(tile.col0 - region.fine.col0, tile.col0 - region.fine.col0 + tile.ncols)
        out.values[rows, cols], out.sigma[rows, cols], out.qa[rows, cols] = part.values, part.sigma, part.qa
    return out
