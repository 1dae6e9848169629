"""Prediction of a region at 1 km, tile by tile, so peak memory does not grow with the region.

Tiles are windows of whole coarse cells (:attr:`Region.tile_cells` per side, about 288 km), so
every tile can be mass-corrected on its own and the results equal an untiled run. A tile reads
only its own window of the 1 km inputs (:meth:`InputStore.read`), so memory is set by the tile
and the output layers, not by the region.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from smprod.grids.ease import Region, RegionGrid
from smprod.inputs.dayfiles import InputStore
from smprod.qa import QA
from smprod.science.features import CLASS_CHECKED, RANGE_CHECKED, fine_features, persistent_anomalies
from smprod.science.models import Downscaler
from smprod.science.subgrid import blend

if TYPE_CHECKING:
    from distributed import Client

#: Tiles predicted at once, on threads. The tree walks release the GIL and the 1 km feature
#: building mostly does not, so two tiles in flight keep both cores busy where one tile at a
#: time used about one (docs/models.md, "Speed and memory").
TILE_THREADS = 2


@dataclass
class Prediction:
    """The model's 1 km field of a day before mass correction.

    ``subgrid``: the sub-grid model's anomaly (zero mean per coarse cell, NaN where missing), or
    None when the model has none; :func:`predict_region` blends it into ``values``.
    """

    values: NDArray[np.float32]
    sigma: NDArray[np.float32]
    qa: NDArray[np.uint8]
    subgrid: NDArray[np.float64] | None = None


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
    """Predict one tile from the model's own predictors (``model.predictors``: with or without
    ``sif`` as it was trained); pixels with an incomplete predictor row get NaN and NO_RETRIEVAL."""
    features, input_qa = fine_features(day, region, store, tile, model.predictors)
    complete = np.isfinite(features.to_numpy(np.float64)).all(axis=1)
    values = np.full(len(features), np.nan, np.float32)
    sigma = np.full(len(features), np.nan, np.float32)
    qa = np.zeros(len(features), np.uint8)
    if complete.any():
        rows = features.loc[complete]
        mean, spread = model.predict_with_uncertainty(rows)
        values[complete], sigma[complete] = mean, spread
        extrapolated = model.out_of_range(rows, RANGE_CHECKED, CLASS_CHECKED)
        qa[complete] |= np.where(extrapolated, np.uint8(QA.OUT_OF_TRAINING_RANGE), 0).astype(np.uint8)
    qa[~complete] |= np.uint8(QA.NO_RETRIEVAL)
    qa |= input_qa.ravel()
    subgrid = None
    if model.subgrid is not None:
        persistent = persistent_anomalies(day, region, store, tile) if model.subgrid.persistent else None
        subgrid = model.subgrid.anomaly(features, tile.shape, region.factor, persistent)
        subgrid[~complete.reshape(tile.shape)] = np.nan
    return Prediction(values.reshape(tile.shape), sigma.reshape(tile.shape), qa.reshape(tile.shape), subgrid)


def predict_region(
    model: Downscaler,
    day: date,
    region: Region,
    store: InputStore,
    size: int | None = None,
    client: Client | None = None,
) -> Prediction:
    """Predict the whole region tile by tile into preallocated output arrays; a model with a
    sub-grid model gets its anomaly blended in over the whole region
    (:func:`smprod.science.subgrid.blend`, so the result does not depend on the tiling).

    With a Dask ``client`` every row of tiles is one task on the cluster (the model is sent to
    the workers once); the workers read the inputs from ``store``'s work directory, which they
    must see. The result does not depend on where the tiles ran.
    """
    out = Prediction(
        np.full(region.fine.shape, np.nan, np.float32),
        np.full(region.fine.shape, np.nan, np.float32),
        np.zeros(region.fine.shape, np.uint8),
        None if model.subgrid is None else np.full(region.fine.shape, np.nan),
    )
    if client is None:
        _predict_on_threads(out, model, day, region, store, size)
    else:
        _predict_on_cluster(out, model, day, region, store, size, client)
    return _blended(out, model, region)


def _predict_on_threads(
    out: Prediction, model: Downscaler, day: date, region: Region, store: InputStore, size: int | None
) -> None:
    with ThreadPoolExecutor(TILE_THREADS) as pool:
        # pool.map yields in tile order whatever finishes first: placement is deterministic.
        windows = list(tiles(region, size))
        parts = pool.map(partial(predict_tile, model, day, region, store), windows)
        for tile, part in zip(windows, parts, strict=True):
            _place(out, region, tile, part)


def _predict_on_cluster(
    out: Prediction,
    model: Downscaler,
    day: date,
    region: Region,
    store: InputStore,
    size: int | None,
    client: Client,
) -> None:
    shared_model = client.scatter(model, broadcast=True)
    futures = [
        client.submit(_predict_tiles, shared_model, day, region, InputStore(store.layout), row, pure=False)
        for row in _rows_of_tiles(region, size)
    ]
    for future in futures:  # in submission order: placement is deterministic
        for tile, part in future.result():
            _place(out, region, tile, part)
        future.release()


def _blended(out: Prediction, model: Downscaler, region: Region) -> Prediction:
    if out.subgrid is None or model.subgrid is None:
        return out
    values = blend(out.values, out.subgrid, region.factor, model.subgrid.blend, model.subgrid.keep_amplitude)
    return Prediction(values.astype(np.float32), out.sigma, out.qa, out.subgrid)


def _rows_of_tiles(region: Region, size: int | None) -> list[list[RegionGrid]]:
    rows: dict[int, list[RegionGrid]] = {}
    for tile in tiles(region, size):
        rows.setdefault(tile.row0, []).append(tile)
    return list(rows.values())


def _predict_tiles(
    model: Downscaler, day: date, region: Region, store: InputStore, row: list[RegionGrid]
) -> list[tuple[RegionGrid, Prediction]]:
    return [(tile, predict_tile(model, day, region, store, tile)) for tile in row]


def _place(out: Prediction, region: Region, tile: RegionGrid, part: Prediction) -> None:
    rows = slice(tile.row0 - region.fine.row0, tile.row0 - region.fine.row0 + tile.nrows)
    cols = slice(tile.col0 - region.fine.col0, tile.col0 - region.fine.col0 + tile.ncols)
    out.values[rows, cols], out.sigma[rows, cols], out.qa[rows, cols] = part.values, part.sigma, part.qa
    if out.subgrid is not None and part.subgrid is not None:
        out.subgrid[rows, cols] = part.subgrid
