"""The predictor cube of a day, at the coarse scale (training) and at 1 km (prediction).

Predictor names are the design's (``PREDICTORS``); none may be silently dropped: a predictor
whose input is missing everywhere raises :class:`~smprod.errors.MissingInputError`.

* ``sm_lag3``, ``sm_lag7``: coarse SMAP of D-3 / D-7 (nearest valid day within +-1 day, chosen by
  ingest); at 1 km bilinear (:func:`smprod.grids.regrid.bilinear_to_fine`), as Mao et al. 2022.
* ``albedo`` from black-sky and white-sky shortwave albedo (Mao et al. 2022, after Lucht et al.
  2000): a = bsa (1 - r) + wsa r, r = 0.122 + 0.85 exp(-4.8 cos(theta)), theta = solar zenith at
  local noon = |latitude - declination|, declination from Cooper (1969).
* MODIS gaps (cloud) are filled **in time**: linear interpolation between the nearest valid
  earlier and later days within ``GAP_DAYS`` that exist in the input store; at the leading edge
  (the operational day, no later day yet) the nearest earlier value is held. What is still
  missing takes the day's coarse-cell mean of the valid pixels, then the regional mean, so the
  1 km cube is seamless. Every filled pixel is reported (``QA.MODIS_GAP_FILLED``).
* ``sm_lag3``/``sm_lag7`` are bilinear at 1 km over the valid coarse cells. Where no cell around
  a pixel has a lag (several days of swath gaps at the edge of the region), the pixel takes the
  nearest valid cell's lag instead of dropping out, flagged ``QA.SMAP_LAG_FILLED``.
* ``doy_sin``/``doy_cos`` encode the season; ``lat``/``lon`` the position (Ma et al. 2025).
* ``precip``/``precip_3d`` are taken as ingest wrote them; where ingest had to fill them (an IMERG
  day of D-2..D without any usable run: :func:`smprod.inputs.dayfiles.fill_precip`) the pixel is
  flagged ``QA.PRECIP_FILLED``.

* ``sif`` (only in the predictor lists of models trained with the ``use_sif`` setting,
  :func:`predictor_names`): GOSIF solar-induced fluorescence of the 8-day composite covering the
  day (Sang et al. 2026). Its gaps (water, snow and ice, a missing composite) are filled as the
  MODIS gaps are, and flagged the same way (``QA.MODIS_GAP_FILLED``: every QA bit is in use).
  The features of a day are those of the model's own list, whatever the current setting.

Gap filling reads the neighbouring days the input store holds; the producer limits the store to
the days its input key was made of (:meth:`InputStore.only`), so a day ingested meanwhile does
not change a product made under an older key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache, partial

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from smprod.errors import MissingInputError
from smprod.grids.ease import Region, RegionGrid
from smprod.grids.regrid import (
    bilinear_window,
    block_mean,
    deviation_from_cell_mean,
    nearest_valid,
    upsample_nearest,
)
from smprod.inputs.dayfiles import PRECIP_FILLED, SIF, InputStore
from smprod.qa import QA

PREDICTORS = (
    "sm_lag3",
    "sm_lag7",
    "lst_day",
    "lst_night",
    "ndvi",
    "evi",
    "albedo",
    "precip",
    "precip_3d",
    "elevation",
    "slope",
    "sand",
    "silt",
    "clay",
    "landcover",
    "doy_sin",
    "doy_cos",
    "lat",
    "lon",
)
#: The optional predictor of the ``use_sif`` setting (not in :data:`PREDICTORS`, the design's
#: list, which every model keeps).
SIF_PREDICTOR = SIF


def predictor_names(use_sif: bool = False) -> tuple[str, ...]:
    """The predictors a model is trained with: :data:`PREDICTORS`, then ``sif`` with ``use_sif``."""
    return (*PREDICTORS, SIF_PREDICTOR) if use_sif else PREDICTORS


#: Predictors whose 1 km values are checked against their training range (QA
#: ``out_of_training_range``), and on which side: the ones that change from day to day.
#: Precipitation only above: a dry day is never unlike training, however short the window. Not
#: checked: the static terrain and soil layers, whose 1 km values always reach beyond the range
#: of 36 km means (a scale effect present every day: 40 % of pixels for slope on the demo region,
#: so the flag would say nothing), the calendar terms (every production day follows its training
#: window) and lat/lon (the region's outer half cell lies beyond the coarse cell centres).
RANGE_CHECKED: dict[str, str] = {
    **dict.fromkeys(("sm_lag3", "sm_lag7", "lst_day", "lst_night", "ndvi", "evi", "albedo", SIF), "both"),
    **dict.fromkeys(("precip", "precip_3d"), "upper"),
}


#: Categorical predictors: a class never seen in training is flagged the same way.
CLASS_CHECKED = ("landcover",)
#: MODIS-derived inputs that are gap-filled in time.
MODIS_INPUTS = ("lst_day", "lst_night", "ndvi", "evi", "albedo_bsa", "albedo_wsa")
#: How far (days) temporal gap filling looks for a valid value.
GAP_DAYS = 8
#: MODIS inputs with a persistent 1 km anomaly (:func:`persistent_anomalies`), for the
#: sub-grid model.
PERSISTENT_INPUTS = ("lst_day", "lst_night")
#: Days D-PERSISTENT_DAYS..D the persistent anomaly averages (16 scored better than 8 on every
#: tuning world of the accuracy suite; docs/models.md, "Persistent anomalies").
PERSISTENT_DAYS = 16


def modis_days(day: date) -> list[date]:
    """The days whose MODIS fields the features of ``day`` may read, oldest first: gap filling
    in time (D +- :data:`GAP_DAYS`) and the persistent anomalies (back to D -
    :data:`PERSISTENT_DAYS`)."""
    back = max(GAP_DAYS, PERSISTENT_DAYS)
    return [day + timedelta(days=k) for k in range(-back, GAP_DAYS + 1)]


def noon_solar_zenith(lat_deg: NDArray | float, doy: int) -> NDArray:
    """Solar zenith angle (radians) at local solar noon; declination after Cooper (1969)."""
    declination = np.radians(23.45) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    return np.abs(np.radians(lat_deg) - declination)


def albedo_from_bsa_wsa(bsa: NDArray, wsa: NDArray, zenith: NDArray) -> NDArray:
    """Blue-sky shortwave albedo from black-sky and white-sky albedo (Mao et al. 2022)."""
    r = 0.122 + 0.85 * np.exp(-4.8 * np.cos(zenith))
    return bsa * (1 - r) + wsa * r


def _doy_terms(day: date) -> tuple[float, float]:
    doy = day.timetuple().tm_yday
    return float(np.sin(2 * np.pi * doy / 365.25)), float(np.cos(2 * np.pi * doy / 365.25))


def gap_fill(
    day: date, name: str, store: InputStore, read: Callable[[date], NDArray]
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The day's field ``name`` (``read(day)`` returns its window) with gaps filled in time.

    Returns:
        (filled field, mask of pixels that were filled)
    """
    current = read(day).astype(np.float32)
    missing = ~np.isfinite(current)
    if not missing.any():
        return current, missing
    (v0, d0), (v1, d1) = (
        _nearest_valid(day, store, read, missing, -1),
        _nearest_valid(day, store, read, missing, +1),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = d0 / (d0 + d1)
        both = np.isfinite(v0) & np.isfinite(v1)
        interpolated = np.where(both, v0 + weight * (v1 - v0), np.where(np.isfinite(v0), v0, v1))
    filled = np.where(missing, interpolated, current).astype(np.float32)
    return filled, missing


def _nearest_valid(
    day: date, store: InputStore, read: Callable[[date], NDArray], missing: NDArray, step: int
) -> tuple[NDArray, NDArray]:
    """Per pixel, the nearest valid value ``step`` days away (within GAP_DAYS) and its distance."""
    value = np.full(missing.shape, np.nan, np.float32)
    distance = np.full(missing.shape, np.nan, np.float32)
    need = missing.copy()
    for k in range(1, GAP_DAYS + 1):
        other = day + timedelta(days=step * k)
        if not need.any() or not store.has(other):
            continue
        field_ = read(other)
        take = need & np.isfinite(field_)
        value[take], distance[take] = field_[take], k
        need &= ~take
    return value, distance


def persistent_anomalies(
    day: date, region: Region, store: InputStore, tile: RegionGrid | None = None, days: int = PERSISTENT_DAYS
) -> dict[str, NDArray[np.float64]]:
    """Each pixel's persistent anomaly of :data:`PERSISTENT_INPUTS` against its coarse cell.

    Per day of D-``days``..D that the store holds, the clear-sky (not gap-filled) value minus the
    mean of the cell's clear pixels that day; the mean of those deviations over the days, 0 where
    the pixel was never clear. A day's 1 km LST carries a kelvin or more of noise (cloud fringes,
    view angle, emissivity), as large as the sub-grid signal, while a coarse cell's mean carries
    almost none: the sub-grid model learns between cell means and is applied to these
    multi-day anomalies, which average the noise out and keep the pattern that persists
    (docs/models.md, "Persistent anomalies").
    """
    tile = tile or region.fine
    out = {}
    for name in PERSISTENT_INPUTS:
        total, count = np.zeros(tile.shape), np.zeros(tile.shape)
        for back in range(days + 1):
            other = day - timedelta(days=back)
            if not store.has(other):
                continue
            deviation = deviation_from_cell_mean(
                _read_window(store, name, tile, region, other), region.factor
            )
            clear = np.isfinite(deviation)
            total[clear] += deviation[clear]
            count += clear
        out[name] = np.divide(total, count, out=np.zeros(tile.shape), where=count > 0)
    return out


def _fill_spatially(values: NDArray, factor: int) -> NDArray:
    """Fill what temporal filling left: coarse-cell mean of valid pixels, then the field mean."""
    if np.isfinite(values).all():
        return values
    coarse = block_mean(values, factor, max_invalid_fraction=0.999)
    out = np.where(np.isfinite(values), values, upsample_nearest(coarse, factor))
    if not np.isfinite(out).any():
        return out
    return np.where(np.isfinite(out), out, np.nanmean(out))


def fine_features(
    day: date,
    region: Region,
    store: InputStore,
    tile: RegionGrid | None = None,
    predictors: tuple[str, ...] = PREDICTORS,
) -> tuple[pd.DataFrame, NDArray[np.uint8]]:
    """Predictors at 1 km for ``tile`` (default: the whole region), row-major pixels.

    ``tile`` must be a window of ``region.fine`` aligned to whole coarse cells; ``predictors``:
    the model's list (:data:`PREDICTORS`, or :func:`predictor_names` with SIF).

    Returns:
        (DataFrame with the ``predictors`` columns, uint8 QA bits of the tile: ``MODIS_GAP_FILLED``,
        ``SMAP_LAG_FILLED`` and ``PRECIP_FILLED`` where an input was filled)
    """
    tile = tile or region.fine
    r0, c0 = tile.row0 - region.fine.row0, tile.col0 - region.fine.col0
    coarse = store.open(day, "coarse")
    columns: dict[str, NDArray] = {}
    names = MODIS_INPUTS + ((SIF,) if SIF in predictors else ())  # sif: gap filled as MODIS
    modis, filled_any = _gap_filled(day, names, region, store, tile)
    lag_filled = np.zeros(tile.shape, bool)
    for lag in ("sm_lag3", "sm_lag7"):
        columns[lag], filled = _lag_window(coarse[lag].values, region.factor, r0, c0, tile.shape)
        lag_filled |= filled
    lon, lat = tile.lonlat()
    zenith = noon_solar_zenith(lat, day.timetuple().tm_yday)
    kept = ("lst_day", "lst_night", "ndvi", "evi", *names[len(MODIS_INPUTS) :])  # and sif
    columns.update({name: modis[name] for name in kept})
    columns["albedo"] = albedo_from_bsa_wsa(modis["albedo_bsa"], modis["albedo_wsa"], zenith)
    for name in ("precip", "precip_3d", "elevation", "slope", "sand", "silt", "clay", "landcover"):
        columns[name] = store.read(day, name, tile, region)
    doy_sin, doy_cos = _doy_terms(day)
    columns.update(
        doy_sin=np.full(tile.shape, doy_sin), doy_cos=np.full(tile.shape, doy_cos), lat=lat, lon=lon
    )
    frame = pd.DataFrame({name: np.asarray(columns[name], np.float64).ravel() for name in predictors})
    _check_present(frame, day, "1 km")
    return frame, _input_qa(filled_any, lag_filled, _precip_filled(day, store, tile, region))


def _gap_filled(
    day: date, names: tuple[str, ...], region: Region, store: InputStore, tile: RegionGrid
) -> tuple[dict[str, NDArray], NDArray[np.bool_]]:
    """The tile's ``names`` (MODIS inputs, SIF) gap filled in time then in space, and where any was."""
    fields: dict[str, NDArray] = {}
    filled_any = np.zeros(tile.shape, bool)
    for name in names:
        values, filled = gap_fill(day, name, store, partial(_read_window, store, name, tile, region))
        fields[name] = _fill_spatially(values, region.factor)
        filled_any |= filled
    return fields, filled_any


def _precip_filled(day: date, store: InputStore, tile: RegionGrid, region: Region) -> NDArray[np.bool_]:
    """Where ingest filled ``precip``/``precip_3d`` (none in files without ``precip_filled``)."""
    if PRECIP_FILLED not in store.open(day, "fine"):
        return np.zeros(tile.shape, bool)
    return np.asarray(store.read(day, PRECIP_FILLED, tile, region) != 0)


def _input_qa(modis: NDArray, lag: NDArray, precip: NDArray) -> NDArray[np.uint8]:
    """The QA bits of filled inputs."""
    qa = np.where(modis, np.uint8(QA.MODIS_GAP_FILLED), np.uint8(0))
    qa |= np.where(lag, np.uint8(QA.SMAP_LAG_FILLED), np.uint8(0))
    qa |= np.where(precip, np.uint8(QA.PRECIP_FILLED), np.uint8(0))
    return qa.astype(np.uint8)


def _lag_window(
    coarse: NDArray, factor: int, row0: int, col0: int, shape: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A lag's 1 km window: bilinear over valid cells, else the nearest valid cell (and where)."""
    values = bilinear_window(coarse, factor, row0, col0, *shape)
    hole = ~np.isfinite(values)
    if not hole.any():
        return values, hole
    # the nearest valid cell of the whole region, so a tile fills as the whole field would
    cells = nearest_valid(coarse)[
        row0 // factor : (row0 + shape[0]) // factor, col0 // factor : (col0 + shape[1]) // factor
    ]
    nearest = upsample_nearest(cells, factor)
    return np.where(hole, nearest, values), hole & np.isfinite(nearest)


def _read_window(store: InputStore, name: str, tile: RegionGrid, region: Region, day: date) -> NDArray:
    """The day's window of ``name``; NaN for ``sif`` on a day ingested without it."""
    if name == SIF and SIF not in store.open(day, "fine"):
        return np.full(tile.shape, np.nan)
    return store.read(day, name, tile, region).astype(np.float64)


def coarse_features(
    day: date, region: Region, store: InputStore, predictors: tuple[str, ...] = PREDICTORS
) -> pd.DataFrame:
    """``predictors`` and the SMAP target on the coarse grid (aggregated with the 50% rule); a
    day ingested without ``sif`` has it NaN (no complete sample with SIF)."""
    coarse = store.open(day, "coarse")
    lon, lat = _coarse_lonlat(region.coarse)
    zenith = noon_solar_zenith(lat, day.timetuple().tm_yday)
    doy_sin, doy_cos = _doy_terms(day)
    columns = {name: coarse[name].values.astype(np.float64) for name in predictors if name in coarse}
    if SIF in predictors and SIF not in coarse:
        columns[SIF] = np.full(region.coarse.shape, np.nan)
    columns["albedo"] = albedo_from_bsa_wsa(coarse["albedo_bsa"].values, coarse["albedo_wsa"].values, zenith)
    columns.update(doy_sin=np.full(lat.shape, doy_sin), doy_cos=np.full(lat.shape, doy_cos), lat=lat, lon=lon)
    columns["landcover"] = np.where(coarse["landcover"].values < 0, np.nan, coarse["landcover"].values)
    frame = pd.DataFrame({name: np.asarray(columns[name], np.float64).ravel() for name in predictors})
    frame["sm"] = coarse["sm"].values.astype(np.float64).ravel()
    frame["day"] = day
    frame["cell"] = np.arange(lat.size)
    return frame


@lru_cache(maxsize=8)
def _coarse_lonlat(grid: RegionGrid) -> tuple[NDArray, NDArray]:
    return grid.lonlat()


def _check_present(frame: pd.DataFrame, day: date, scale: str) -> None:
    absent = [name for name in frame.columns if not np.isfinite(frame[name].to_numpy()).any()]
    if absent:
        raise MissingInputError(
            f"{day}: predictors {absent} have no valid value at {scale}; check the inputs"
        )
