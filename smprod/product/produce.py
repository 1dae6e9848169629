"""Produce one product day from its gridded inputs and a model: predict, correct, write.

This is the library side of the daily flow's "predict + correct" and "write" stages.

**The input key.** A product day's bytes are a function of its *input key* (:func:`input_key`)
and its model version: the key is a hash of everything else they depend on, and its components
go into the provenance (``parameters.input_key_components``), so a user can see why a day was
produced again (:func:`key_changes`):

- ``day``: what the day's gridded inputs hold, the SHA-256 of every variable of its ``fine.nc``
  and ``coarse.nc`` (recorded by the writer, :data:`smprod.inputs.dayfiles.DIGESTS_ATTR`; a
  changed static layer changes ``elevation``, ``slope``, ...) and of their record (granules used,
  SMAP release, IMERG run, missing inputs);
- ``gap_filling_days``: the MODIS variables (and ``sif``, where a day has it) of every ingested
  day whose MODIS fields the product may read (:func:`~smprod.science.features.modis_days`:
  gap filling in time, D +- ``GAP_DAYS``, and the persistent anomalies, back to D -
  ``PERSISTENT_DAYS``); the product then reads only those days (:meth:`InputStore.only`), so
  a day ingested later gives a new key, never new bytes under the old one;
- ``region``: the provenance's region record (bbox, grid, shape, transform);
- ``settings``: the product settings (:class:`ProductSettings`);
- ``code``: SHA-256 of the modules that turn inputs and model into the files
  (:data:`PRODUCT_CODE`), and ``software``: the versions of the packages that shape the bytes.

Same key and model version => same bytes; any changed input, setting or code => a new key, and
the daily flow produces the day again (:func:`is_current` says whether the published day is the
one the key and model would make).

**SMAP coverage.** A day whose SMAP has a valid retrieval in fewer than ``min_smap_coverage`` of
the region's coarse cells (or in none) is not produced silently: it fails with a message naming
the day, the coverage and the setting, or, with ``low_smap_coverage = "publish"``, is published
with a warning in the log and in the provenance (``parameters.warnings``) and QA
``coarse_missing`` on every pixel without SMAP (:func:`check_smap_coverage`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from smprod.config import (
    DEFAULT_CONSERVATION_KM,
    DEFAULT_GAP_CORRECTION_KM,
    DEFAULT_MIN_SMAP_COVERAGE,
    LowSmapCoverage,
)
from smprod.errors import MissingInputError, ProductError
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import SIF, DayRecord, InputStore
from smprod.layout import ProductFiles, WorkLayout
from smprod.product.provenance import (
    SOFTWARE_PACKAGES,
    ModelInfo,
    ProductInfo,
    region_record,
    software_versions,
)
from smprod.product.write import correct_and_write
from smprod.qa import QA
from smprod.science.correction import porosity_from_texture
from smprod.science.features import MODIS_INPUTS, modis_days
from smprod.science.models import Downscaler
from smprod.science.predict import Prediction, predict_region

if TYPE_CHECKING:
    from distributed import Client

    from smprod.config import Settings

#: The code (relative to the ``smprod`` package) that turns a day's inputs and a model into the
#: product files: part of the input key, so a changed module produces the day again.
PRODUCT_CODE = ("science", "product", "grids", "qa.py", "layout.py", "inputs/dayfiles.py")
#: Packages whose versions are part of the input key: the provenance's and those of prediction.
KEY_PACKAGES = (*SOFTWARE_PACKAGES, "scikit-learn", "xgboost", "scipy", "pandas", "netCDF4")
#: Hex digits kept of the input key (the run ledger's column holds up to 64).
KEY_DIGITS = 24


@dataclass(frozen=True)
class ProductSettings:
    """The settings a product day's bytes depend on (besides the region and the model)."""

    coarse_product: str
    gap_correction_km: float = DEFAULT_GAP_CORRECTION_KM
    conservation_km: int = DEFAULT_CONSERVATION_KM
    min_smap_coverage: float = DEFAULT_MIN_SMAP_COVERAGE
    low_smap_coverage: LowSmapCoverage = "fail"

    @classmethod
    def of(cls, settings: Settings) -> ProductSettings:
        return cls(
            settings.coarse_product,
            settings.gap_correction_km,
            settings.conservation_km,
            settings.min_smap_coverage,
            settings.low_smap_coverage,
        )


@dataclass(frozen=True)
class InputKey:
    """A product day's input key: ``value`` (hex) = hash of ``components``; ``days`` = the day
    and the gap-filling days it covers (the only days the product may read)."""

    value: str
    components: dict[str, Any]
    days: tuple[date, ...]


@dataclass(frozen=True)
class SmapCoverage:
    """How much of the region the day's SMAP covers, against ``min_smap_coverage``."""

    day: date
    coarse_product: str
    valid: int
    cells: int
    minimum: float

    @property
    def fraction(self) -> float:
        return self.valid / self.cells if self.cells else 0.0

    @property
    def low(self) -> bool:
        """Below the minimum; a day without any valid cell always is."""
        return self.valid == 0 or self.fraction < self.minimum

    def describe(self) -> str:
        return (
            f"{self.day}: {self.coarse_product} has a valid retrieval in {self.valid} of the region's "
            f"{self.cells} coarse cells ({100 * self.fraction:.1f} %), below min_smap_coverage = "
            f"{self.minimum:g}"
        )

    def record(self) -> dict[str, Any]:
        return {
            "valid_cells": self.valid,
            "cells": self.cells,
            "fraction": round(self.fraction, 6),
            "min_smap_coverage": self.minimum,
        }


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


def input_key(store: InputStore, day: date, region: Region, settings: ProductSettings) -> InputKey:
    """The input key of ``day`` (module docstring): what its product's bytes depend on.

    Reads only the day files' attributes (their variables' digests), never their arrays.

    Raises:
        MissingInputError: the day was not ingested.
    """
    from smprod.inputs.ingest import code_digest

    if not store.has(day):
        raise MissingInputError(f"no gridded inputs for {day}: run smprod ingest first")
    neighbours = [other for other in modis_days(day) if other != day and store.has(other)]
    components = {
        "day": _day_identity(store, day),
        "gap_filling_days": {d.isoformat(): _modis_identity(store, d) for d in sorted(neighbours)},
        "region": region_record(region),
        "settings": asdict(settings),
        "code": code_digest(PRODUCT_CODE)[:16],
        "software": software_versions(KEY_PACKAGES),
    }
    canonical = json.dumps(components, sort_keys=True).encode()
    value = hashlib.sha256(canonical).hexdigest()[:KEY_DIGITS]
    return InputKey(value, components, tuple(sorted((day, *neighbours))))


def _day_identity(store: InputStore, day: date) -> dict[str, Any]:
    """The day's record and the digests of every variable of both its files."""
    fine, coarse = store.record(day, "fine"), store.record(day, "coarse")
    record = {
        "inputs": {k: sorted(v) for k, v in sorted(coarse.inputs.items())},
        "missing": coarse.missing,
        "smap_release": coarse.smap_release,
        "precip_run": coarse.precip_run,
    }
    return {
        "record": _short_hash(record),
        "fine": fine.digests or _file_identity(store, day, "fine", fine),
        "coarse": coarse.digests or _file_identity(store, day, "coarse", coarse),
    }


def _modis_identity(store: InputStore, day: date) -> str:
    """One hash of the MODIS variables of a gap-filling day (what gap filling reads of it), and
    of its ``sif`` when it has one (SIF is gap filled in time too; a day without it keeps the key
    it had before SIF existed)."""
    record = store.record(day, "fine")
    if record.digests:
        names = (*MODIS_INPUTS, *((SIF,) if SIF in record.digests else ()))
        return _short_hash({name: record.digests.get(name) for name in names})
    return _short_hash(_file_identity(store, day, "fine", record))


def _file_identity(store: InputStore, day: date, scale: str, record: DayRecord) -> dict[str, str]:
    """A file written before variables had digests: its ingest fingerprint, else its bytes."""
    if record.fingerprint:
        return {"ingest_fingerprint": record.fingerprint}
    return {"sha256": hashlib.sha256(store.path(day, scale).read_bytes()).hexdigest()[:16]}


def _short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def day_inputs(store: InputStore, day: date) -> tuple[dict[str, list[str]], str, str]:
    """(granules used, SMAP release, IMERG run) recorded by ingest for ``day``."""
    attrs = store.open(day, "coarse").attrs
    return (
        json.loads(attrs.get("inputs", "{}")),
        str(attrs.get("smap_release", "")),
        str(attrs.get("precip_run", "")),
    )


def is_current(files: ProductFiles, key: str, model: ModelInfo) -> bool:
    """True when the published day was made under the same input key by the same model."""
    record = _provenance(files)
    made_by = record.get("model", {})
    return (
        record.get("parameters", {}).get("input_key") == key
        and made_by.get("name") == model.name
        and str(made_by.get("version")) == str(model.version)
        and made_by.get("run_id") == model.run_id
    )


def key_changes(files: ProductFiles, key: InputKey, model: ModelInfo) -> list[str]:
    """What differs between the published day and ``key``'s components and ``model`` (why it is
    produced again), e.g. ``["day inputs: elevation, slope", "gap-filling days added: 2024-06-11"]``."""
    record = _provenance(files)
    if not record:
        return ["not produced yet"]
    changes = []
    made_by = record.get("model", {})
    if (made_by.get("name"), str(made_by.get("version"))) != (model.name, str(model.version)):
        changes.append(
            f"model {made_by.get('name')} v{made_by.get('version')} -> {model.name} v{model.version}"
        )
    before = record.get("parameters", {}).get("input_key_components")
    if not before:
        return [*changes, "the published day records no input key components (made by an older smprod)"]
    after = key.components
    changes += _day_changes(before.get("day", {}), after["day"])
    changes += _gap_day_changes(before.get("gap_filling_days", {}), after["gap_filling_days"])
    for part in ("region", "settings", "code", "software"):
        if before.get(part) != after[part]:
            changes.append(_part_change(part, before.get(part), after[part]))
    return changes or ["nothing: same input key and model, but no finished run of them in the ledger"]


def _day_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``day inputs: <variables whose digest changed>`` (and the record), or nothing."""
    changed = sorted(
        {
            name
            for scale in ("fine", "coarse")
            for name in {*before.get(scale, {}), *after[scale]}
            if before.get(scale, {}).get(name) != after[scale].get(name)
        }
    )
    if before.get("record") != after["record"]:
        changed.insert(0, "granules or missing inputs")
    return ["day inputs: " + ", ".join(changed)] if changed else []


def _gap_day_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Gap-filling days added, removed or changed."""
    out = []
    for label, days in (
        ("added", sorted(set(after) - set(before))),
        ("removed", sorted(set(before) - set(after))),
        ("changed", sorted(d for d in set(before) & set(after) if before[d] != after[d])),
    ):
        if days:
            out.append(f"gap-filling days {label}: {', '.join(days)}")
    return out


def _part_change(part: str, before: Any, after: Any) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        names = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        return f"{part}: " + ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in names)
    return f"{part}: {before} -> {after}"


def _provenance(files: ProductFiles) -> dict[str, Any]:
    if not files.provenance.exists():
        return {}
    try:
        return dict(json.loads(files.provenance.read_text()))
    except (OSError, ValueError):  # unreadable: not current, produce it again
        return {}


def smap_coverage(store: InputStore, day: date, settings: ProductSettings) -> SmapCoverage:
    """The share of the region's coarse cells with a valid SMAP ``sm`` on ``day``."""
    sm = store.open(day, "coarse")["sm"].values
    return SmapCoverage(
        day, settings.coarse_product, int(np.isfinite(sm).sum()), int(sm.size), settings.min_smap_coverage
    )


def check_smap_coverage(
    store: InputStore, day: date, settings: ProductSettings
) -> tuple[SmapCoverage, str | None]:
    """The day's SMAP coverage and, when it is low and ``low_smap_coverage`` is ``publish``, the
    warning to log and record.

    Raises:
        MissingInputError: coverage low and ``low_smap_coverage`` is ``fail``; the message names
            the day, the coverage and the settings.
    """
    coverage = smap_coverage(store, day, settings)
    if not coverage.low:
        return coverage, None
    if settings.low_smap_coverage == "fail":
        raise MissingInputError(
            f"{coverage.describe()}: not produced (SMAP is all but absent; the day would be the "
            "model alone). Wait for a SMAP granule with retrievals and run the day again, lower "
            'min_smap_coverage (SMPROD_MIN_SMAP_COVERAGE), or set low_smap_coverage = "publish" '
            "(SMPROD_LOW_SMAP_COVERAGE) to publish such days with a warning and QA coarse_missing"
        )
    missing = 100 * (1 - coverage.fraction)
    return coverage, (
        f'{coverage.describe()}: published anyway (low_smap_coverage = "publish"); the cells '
        f"without SMAP ({missing:.1f} %) have no mass constraint (QA coarse_missing)"
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
    min_smap_coverage: float = DEFAULT_MIN_SMAP_COVERAGE,
    low_smap_coverage: LowSmapCoverage = "fail",
) -> DayProduct:
    """Predict the day at 1 km tile by tile, mass-correct it against SMAP and write its files.

    ``client``: a Dask client for the tiles (:mod:`smprod.ops.scaleout`); None = here. The other
    keywords are the settings of the same names (:class:`ProductSettings`).

    Raises:
        MissingInputError: the day was not ingested, or its SMAP coverage is low and
            ``low_smap_coverage`` is ``fail`` (:func:`check_smap_coverage`).
        ProductError: the inputs the key was made of changed while the day was predicted.
    """
    settings = ProductSettings(
        coarse_product, gap_correction_km, conservation_km, min_smap_coverage, low_smap_coverage
    )
    # The stores are closed when done: their files are closed there, not by the garbage collector.
    with InputStore(layout) as store:
        coverage, warning = check_smap_coverage(store, day, settings)
        key = input_key(store, day, region, settings)
    with store.only(key.days) as keyed:
        info = _product_info(keyed, day, region, model, model_info, settings, key, coverage, warning)
        prediction = predict_region(model, day, region, keyed, client=client)
        _check_key_unchanged(layout, day, region, settings, key)
        files = layout.product_files(day)
        return _correct_and_write_day(files, keyed, prediction, info, gap_correction_km, conservation_km)


def _check_key_unchanged(
    layout: WorkLayout, day: date, region: Region, settings: ProductSettings, key: InputKey
) -> None:
    with InputStore(layout) as now:
        if input_key(now, day, region, settings).value != key.value:
            raise ProductError(
                f"{day}: the day inputs of {day} or of its gap-filling days were rewritten while it "
                "was predicted (another ingest); run the day again"
            )


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
    settings: ProductSettings,
    key: InputKey,
    coverage: SmapCoverage,
    coverage_warning: str | None,
) -> ProductInfo:
    """What the day's provenance says: the granules ingest used, the input key and its
    components, the model, the settings that shaped the product, the SMAP coverage and the
    warnings of a degraded day (low SMAP coverage, filled precipitation)."""
    inputs, release, precip_run = day_inputs(store, day)
    parameters = {
        "input_key": key.value,
        "input_key_components": key.components,
        "model_kind": model.kind,
        "sigma_scale": model.sigma_scale,
        "gap_correction_km": settings.gap_correction_km,
        "conservation_km": settings.conservation_km,
        "low_smap_coverage": settings.low_smap_coverage,
        "smap_coverage": coverage.record(),
        "warnings": _warnings(store, day, coverage_warning),
    }
    return ProductInfo(
        day=day,
        region=region,
        model=model_info,
        inputs=inputs,
        coarse_product=settings.coarse_product,
        smap_release=release,
        precip_run=precip_run,
        software=software_versions(),
        parameters=parameters,
        smap_passes=smap_passes(store, day),
        gap_filling_days=tuple(d.isoformat() for d in key.days if d != day),
    )


def _warnings(store: InputStore, day: date, coverage_warning: str | None) -> list[str]:
    """What was degraded: low SMAP coverage published anyway, filled precipitation."""
    filled = [m for m in store.record(day, "coarse").missing if m.startswith("precip:") and "filled" in m]
    return ([coverage_warning] if coverage_warning else []) + filled


#: The SMAP L3 passes of a day's ``coarse.nc``: AM (descending, 6 am) and PM (ascending, 6 pm).
SMAP_PASSES = {"AM": "sm_am", "PM": "sm_pm"}


def smap_passes(store: InputStore, day: date) -> tuple[str, ...]:
    """The day's SMAP passes with at least one valid retrieval over the region (provenance
    ``input_times``); a file without the pass variables names none."""
    coarse = store.open(day, "coarse")
    return tuple(
        name
        for name, variable in SMAP_PASSES.items()
        if variable in coarse and bool(np.isfinite(coarse[variable].values).any())
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
