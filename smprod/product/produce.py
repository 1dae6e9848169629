"""Produce one product day from its gridded inputs and a model: predict, correct, write.

This is the library side of the daily flow's "predict + correct" and "write" stages. The input
key (a hash of the granules used) and the model version go into the provenance, so a rerun can
tell whether a published day is already current (:func:`is_current`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from smprod.config import DEFAULT_CONSERVATION_KM, DEFAULT_GAP_CORRECTION_KM
from smprod.errors import MissingInputError
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import InputStore
from smprod.layout import ProductFiles, WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo, software_versions
from smprod.product.write import correct_and_write
from smprod.qa import QA
from smprod.science.correction import porosity_from_texture
from smprod.science.models import Downscaler
from smprod.science.predict import Prediction, predict_region

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class DayProduct:
    """What producing a day made: the files and the fields validation needs."""

    files: ProductFiles
    corrected: NDArray[np.float32]
    uncorrected: NDArray[np.float32]
    coarse_sm: NDArray[np.float64]
    precip: NDArray[np.float32]
    input_key: str
    inputs: dict[str, list[str]]
    precip_run: str


def input_key(inputs: dict[str, list[str]]) -> str:
    """A stable hash of the granules a day was made from (the cache key, with the model version)."""
    canonical = json.dumps({k: sorted(v) for k, v in sorted(inputs.items())}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def day_inputs(store: InputStore, day: date) -> tuple[dict[str, list[str]], str, str]:
    """(granules used, SMAP release, IMERG run) recorded by ingest for ``day``."""
    attrs = store.open(day, "coarse").attrs
    return (
        json.loads(attrs.get("inputs", "{}")),
        str(attrs.get("smap_release", "")),
        str(attrs.get("precip_run", "")),
    )


def is_current(
    files: ProductFiles,
    key: str,
    model_version: str,
    gap_correction_km: float = DEFAULT_GAP_CORRECTION_KM,
    conservation_km: int = DEFAULT_CONSERVATION_KM,
) -> bool:
    """True when the published day was made from the same inputs, model version and correction."""
    if not files.provenance.exists():
        return False
    record = json.loads(files.provenance.read_text())
    parameters = record.get("parameters", {})
    return (
        parameters.get("input_key") == key
        and str(record.get("model", {}).get("version")) == str(model_version)
        and parameters.get("gap_correction_km") == gap_correction_km
        and parameters.get("conservation_km") == conservation_km
    )


def produce_day(
    day: date,
    region: Region,
    layout: WorkLayout,
    model: Downscaler,
    model_info: ModelInfo,
    coarse_product: str,
    client: Client | None = None,
    gap_correction_km: float = DEFAULT_GAP_CORRECTION_KM,
    conservation_km: int = DEFAULT_CONSERVATION_KM,
) -> DayProduct:
    """Predict the day at 1 km tile by tile, mass-correct it against SMAP and write its files.

    ``client``: a Dask client to predict the tiles on (:mod:`smprod.ops.scaleout`); None = here.
    ``gap_correction_km``: the setting of the same name (:func:`smprod.science.correction.gap_shifts`).
    ``conservation_km``: the setting of the same name
    (:func:`smprod.science.correction.conserve_mass_in_blocks`).
    """
    store = InputStore(layout)
    info = _product_info(
        store, day, region, model, model_info, coarse_product, gap_correction_km, conservation_km
    )
    prediction = predict_region(model, day, region, store, client=client)
    files = layout.product_files(day)
    return _correct_and_write_day(files, store, prediction, info, gap_correction_km, conservation_km)


def _correct_and_write_day(
    files: ProductFiles,
    store: InputStore,
    prediction: Prediction,
    info: ProductInfo,
    gap_correction_km: float,
    conservation_km: int,
) -> DayProduct:
    """Mass-correct the prediction against the day's SMAP (porosity from the soil texture; QA
    ``LESSER_PRECIP`` unless IMERG Final), write the files and keep what validation needs."""
    coarse_sm = store.open(info.day, "coarse")["sm"].values.astype(np.float64)
    fine = store.open(info.day, "fine")
    porosity = porosity_from_texture(fine["sand"].values, fine["clay"].values)
    qa = prediction.qa.copy()
    if info.precip_run and info.precip_run != "Final":
        qa |= np.uint8(QA.LESSER_PRECIP)
    correction = correct_and_write(
        files,
        prediction.values,
        coarse_sm,
        prediction.sigma,
        qa,
        info,
        porosity,
        gap_correction_km,
        conservation_km,
    )
    return DayProduct(
        files=files,
        corrected=correction.values.astype(np.float32),
        uncorrected=prediction.values,
        coarse_sm=coarse_sm,
        precip=fine["precip"].values.astype(np.float32),
        input_key=str(info.parameters["input_key"]),
        inputs=dict(info.inputs),
        precip_run=info.precip_run,
    )


def _product_info(
    store: InputStore,
    day: date,
    region: Region,
    model: Downscaler,
    model_info: ModelInfo,
    coarse_product: str,
    gap_correction_km: float,
    conservation_km: int,
) -> ProductInfo:
    """What the day's provenance says: the granules ingest used (and their key), the model and
    the settings that shaped the product."""
    inputs, release, precip_run = day_inputs(store, day)
    parameters = {
        "input_key": input_key(inputs),
        "model_kind": model.kind,
        "sigma_scale": model.sigma_scale,
        "gap_correction_km": gap_correction_km,
        "conservation_km": conservation_km,
    }
    return ProductInfo(
        day=day,
        region=region,
        model=model_info,
        inputs=inputs,
        coarse_product=coarse_product,
        smap_release=release,
        precip_run=precip_run,
        software=software_versions(),
        parameters=parameters,
    )


#: First day of SMAP L3 radiometer soil moisture (the mission's science data begin 2015-03-31).
SMAP_FIRST_DAY = date(2015, 3, 31)


def latest_coarse_day(
    source: Any,
    coarse_product: str,
    bbox: tuple[float, float, float, float],
    today: date,
    lookback_days: int = 30,
) -> date:
    """The most recent day (up to ``today``) for which the coarse SMAP granule exists.

    Raises:
        MissingInputError: when no SMAP granule exists in the look-back window; the message names
            the newest granule's day if the source has one (an archive that stopped updating).
    """
    first = today - timedelta(days=lookback_days)
    days = _coarse_days(source, coarse_product, bbox, first, today)
    if not days:
        older = _coarse_days(source, coarse_product, bbox, SMAP_FIRST_DAY, first)
        hint = f"; the newest is for {max(older)}: give the day (--day)" if older else ""
        raise MissingInputError(f"no {coarse_product} granule between {first} and {today}{hint}")
    return max(days)


def _coarse_days(source: Any, coarse_product: str, bbox: tuple, start: date, end: date) -> list[date]:
    from smprod.inputs.sources.base import GranuleQuery

    refs = source.find(GranuleQuery((coarse_product,), start, end, bbox))
    return [ref.granule.day for ref in refs if ref.granule.day <= end]
