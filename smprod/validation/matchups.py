"""Matchups: every product variant sampled at each station's cell, day by day.

Variants (the names stored in ``matchups.variant`` and ``validation_metrics.variant``):

- ``corrected``: the published 1 km product (mass-corrected) at the station's 1 km cell;
- ``uncorrected``: the model's 1 km output before mass correction, which is not published: only
  the production path (:func:`smprod.validation.pipeline.match_fields`, from the day in memory)
  has it;
- ``uncorrected_cell``: that output averaged over the station's SMAP cell (valid 1 km cells,
  50 % rule), the model's estimate at SMAP's scale: the product in triple collocation
  (:mod:`smprod.validation.collocation` says why the 1 km value cannot be);
- ``smap``: the coarse SMAP daily value of the station's coarse cell;
- ``bilinear``: the bilinear-SMAP baseline (:func:`smprod.grids.regrid.bilinear_to_fine` of the
  coarse ``sm``) at the station's 1 km cell, the reference any downscaling must beat.

The sampling works on arrays (:class:`DayFields`), so production can pass what it has in
memory; :func:`read_day_fields` builds them from the published files (through
:func:`smprod.product.read.read_layers`), so matchups other than ``uncorrected`` can always be
recomputed from products alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smprod.errors import ProductError
from smprod.grids.ease import EaseGrid, Region
from smprod.grids.regrid import bilinear_to_fine, block_mean, upsample_nearest
from smprod.layout import WorkLayout
from smprod.product.read import read_layers

VARIANTS = ("corrected", "uncorrected", "uncorrected_cell", "smap", "bilinear")
#: Model version recorded when a product's provenance does not name one.
UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True)
class StationSite:
    """Where a station is: its database id, key, network and position (degrees)."""

    station_id: int
    key: str
    network: str
    lon: float
    lat: float


@dataclass(frozen=True)
class StationCell:
    """A station's cells inside the region (row/col relative to the region's grids)."""

    site: StationSite
    fine_row: int
    fine_col: int
    coarse_row: int
    coarse_col: int


@dataclass(frozen=True)
class DayFields:
    """One product day as arrays on the region's grids (NaN = no value).

    Attributes:
        day: the product day.
        corrected: mass-corrected 1 km soil moisture, shape ``region.fine.shape``.
        model_version: registered model version that made the product.
        model_run_id: MLflow run of that model version, if known.
        coarse_sm: daily coarse SMAP ``sm`` on ``region.coarse``; without it no ``smap`` and
            ``bilinear`` matchups.
        uncorrected: 1 km model output before mass correction (production only: not published).
        precip: 1 km precipitation (mm/day), stored with the matchups for plots.
    """

    day: date
    corrected: ArrayLike
    model_version: str = UNKNOWN_VERSION
    model_run_id: str | None = None
    coarse_sm: ArrayLike | None = None
    uncorrected: ArrayLike | None = None
    precip: ArrayLike | None = None


def locate(sites: Sequence[StationSite], region: Region) -> tuple[list[StationCell], list[StationSite]]:
    """Cells of the stations inside the region, and the stations outside it (to report)."""
    if not sites:
        return [], []
    lon = np.array([s.lon for s in sites])
    lat = np.array([s.lat for s in sites])
    rows, cols = EaseGrid(region.fine.km).rowcol_of_lonlat(lon, lat)
    rows = np.asarray(rows) - region.fine.row0
    cols = np.asarray(cols) - region.fine.col0
    inside, outside = [], []
    for site, r, c in zip(sites, rows.tolist(), cols.tolist(), strict=True):
        if 0 <= r < region.fine.nrows and 0 <= c < region.fine.ncols:
            inside.append(StationCell(site, r, c, r // region.factor, c // region.factor))
        else:
            outside.append(site)
    return inside, outside


def _field(values: ArrayLike | None, shape: tuple[int, int], name: str) -> NDArray[np.float64] | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ProductError(f"{name} has shape {array.shape}, the region's grid is {shape}")
    return array


def variant_fields(fields: DayFields, region: Region) -> dict[str, NDArray[np.float64]]:
    """Every available variant as a 1 km array (``smap``, ``uncorrected_cell`` repeated over
    their coarse cell).

    Raises:
        ProductError: if an array does not have the region's fine or coarse shape.
    """
    fine = region.fine.shape
    out = {"corrected": _field(fields.corrected, fine, "corrected")}
    uncorrected = _field(fields.uncorrected, fine, "uncorrected")
    if uncorrected is not None:
        out["uncorrected"] = uncorrected
        out["uncorrected_cell"] = upsample_nearest(block_mean(uncorrected, region.factor), region.factor)
    coarse = _field(fields.coarse_sm, region.coarse.shape, "coarse_sm")
    if coarse is not None:
        out["smap"] = upsample_nearest(coarse, region.factor)
        out["bilinear"] = bilinear_to_fine(coarse, region.factor)
    return {name: array for name, array in out.items() if array is not None}


def _value(array: NDArray[np.float64] | None, row: int, col: int) -> float | None:
    if array is None:
        return None
    value = float(array[row, col])
    return value if math.isfinite(value) else None


def sample_day(
    fields: DayFields, cells: Sequence[StationCell], insitu: Mapping[int, float], region: Region
) -> list[dict[str, Any]]:
    """Matchup rows of one day: one per station with an in situ value and per variant.

    A variant without a value at the station (cloud, no SMAP) gives a row with ``product``
    None, so the row count says how often the product had nothing to offer.
    """
    variants = variant_fields(fields, region)
    precip = _field(fields.precip, region.fine.shape, "precip")
    rows = []
    for cell in cells:
        observed = insitu.get(cell.site.station_id)
        if observed is None or not math.isfinite(observed):
            continue
        for variant, array in variants.items():
            rows.append(
                {
                    "station_id": cell.site.station_id,
                    "day": fields.day,
                    "variant": variant,
                    "model_version": fields.model_version,
                    "model_run_id": fields.model_run_id,
                    "insitu": float(observed),
                    "product": _value(array, cell.fine_row, cell.fine_col),
                    "precip": _value(precip, cell.fine_row, cell.fine_col),
                    "fine_row": region.fine.row0 + cell.fine_row,
                    "fine_col": region.fine.col0 + cell.fine_col,
                }
            )
    return rows


def _read_input(path: Path, name: str) -> NDArray[np.float64] | None:
    import xarray as xr

    if not path.exists():
        return None
    with xr.open_dataset(path) as ds:
        return np.asarray(ds[name].values, dtype=np.float64) if name in ds else None


def read_day_fields(layout: WorkLayout, day: date, region: Region) -> DayFields | None:
    """The day's fields from the published product and its gridded inputs; None if unpublished.

    Raises:
        ProductError: if a product file is unreadable or on another grid.
    """
    files = layout.product_files(day)
    if not files.soil_moisture.exists():
        return None
    read = read_layers(files, grid=region.fine, assets=("soil_moisture",))
    model = read.provenance.get("model", {}) or {}
    inputs = layout.inputs_dir(day)
    return DayFields(
        day=day,
        corrected=read.layers["soil_moisture"].astype(np.float64),
        model_version=str(model.get("version") or UNKNOWN_VERSION),
        model_run_id=model.get("run_id"),
        coarse_sm=_read_input(inputs / "coarse.nc", "sm"),
        precip=_read_input(inputs / "fine.nc", "precip"),
    )
