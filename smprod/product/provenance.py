"""The provenance record of a product day: what went in, which model, which software, what came out.

Its fields are the "Products" contract in ``docs/architecture.md`` (``day``, ``product_id``,
``region``, ``model``, ``inputs``, ``coarse_product``, ``smap_release``, ``precip_run``,
``qa_fractions``, ``software``, ``parameters``) plus ``statistics``, ``thumbnail`` (the stated
colour scale), ``qa_flags`` (bit meanings), ``input_times`` (when each source's inputs were
observed, :func:`smprod.product.freshness.input_times`) and ``assets`` (file name, size and
SHA-256 of each COG and the thumbnail). It is serialised with sorted keys and fixed formatting
and holds no timestamp or absolute path, so a rerun with the same inputs and model gives the
same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from smprod.config import NEAR_REAL_TIME
from smprod.grids.ease import Region
from smprod.layout import PRODUCT_ID
from smprod.product.freshness import input_times
from smprod.product.thumbnail import colour_scale
from smprod.qa import QA, QA_DESCRIPTIONS

#: Packages whose versions go into ``software`` by default (those that shape the product bytes).
SOFTWARE_PACKAGES = ("numpy", "rasterio", "xarray", "rioxarray", "pillow", "matplotlib")
#: Decimal places kept for statistics and fractions (stable text, far below product precision).
DECIMALS = 6


@dataclass(frozen=True)
class ModelInfo:
    """The model that produced the day (from the MLflow registry).

    ``training_mode``: ``near-real-time`` (the champion, trained on days before the ones it
    makes) or ``reanalysis`` (trained on a window around its block of days, days after them
    included); ``window``: the first and last day of its training window (None when unknown);
    ``predictors``: the model's own list (with ``sif`` when trained with the ``use_sif``
    setting; empty when unknown).
    """

    name: str
    version: str
    run_id: str
    kind: str
    training_mode: str = NEAR_REAL_TIME
    window: tuple[date, date] | None = None
    predictors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductInfo:
    """Everything about a product day that is not in its arrays.

    Attributes:
        day: the product day.
        region: the region (its fine grid is the grid of the COGs).
        model: the model used.
        inputs: product short name -> granule ids used (e.g. ``{"SPL3SMP": [...]}``).
        coarse_product: ``SPL3SMP`` or ``SPL3SMP_E``.
        smap_release: release id of the SMAP granule (e.g. ``R19240_001``).
        precip_run: IMERG run used (``Final``, ``Late`` or ``Early``).
        software: package -> version (see :func:`software_versions`).
        parameters: settings that shaped the product (porosity bound, correction scheme, ...).
        smap_passes: the day's SMAP passes with a retrieval over the region (``AM``, ``PM``).
        gap_filling_days: ISO days whose MODIS fields gap filling may read (the input key's).
    """

    day: date
    region: Region
    model: ModelInfo
    inputs: Mapping[str, list[str]]
    coarse_product: str
    smap_release: str
    precip_run: str
    software: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    smap_passes: tuple[str, ...] = ()
    gap_filling_days: tuple[str, ...] = ()


def software_versions(packages: Iterable[str] = SOFTWARE_PACKAGES) -> dict[str, str]:
    """Versions of smprod (from the source, installed or not), GDAL and ``packages``.

    A package that is not installed is reported as ``"not installed"`` rather than failing.
    """
    from importlib.metadata import PackageNotFoundError, version

    import rasterio

    import smprod

    versions = {"smprod": smprod.__version__, "gdal": rasterio.__gdal_version__}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def region_record(region: Region) -> dict[str, Any]:
    """The ``region`` block: bbox, grid km, CRS, 1 km shape and transform.

    ``transform`` is in the rasterio/``affine`` and STAC ``proj:transform`` order
    ``[a, b, c, d, e, f]`` = ``[res, 0, left, 0, -res, top]`` (pixel corners).
    """
    t = region.fine.transform
    return {
        "bbox": list(region.bbox),
        "coarse_km": region.coarse.km,
        "fine_km": region.fine.km,
        "crs": "EPSG:6933",
        "shape": list(region.fine.shape),
        "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
        "ease_grid_origin_rowcol": [region.fine.row0, region.fine.col0],
    }


def qa_fractions(soil_moisture: NDArray, qa: NDArray) -> dict[str, float]:
    """Flag name -> fraction of valid pixels (finite soil moisture) with that flag set.

    ``no_retrieval`` is the exception: a pixel with that flag has no value, so its fraction is
    taken over all pixels.
    """
    valid = np.isfinite(soil_moisture)
    n_valid = max(int(valid.sum()), 1)
    fractions = {}
    for bit, name in QA_DESCRIPTIONS.items():
        hit = (qa & np.uint8(bit)) > 0
        if bit == QA.NO_RETRIEVAL:
            fractions[name] = round(float(hit.mean()), DECIMALS)
        else:
            fractions[name] = round(float((hit & valid).sum()) / n_valid, DECIMALS)
    return fractions


def statistics(soil_moisture: NDArray) -> dict[str, float | None]:
    """Summary of the valid soil-moisture values (for the catalog and quick checks)."""
    values = np.asarray(soil_moisture, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"valid_fraction": 0.0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "valid_fraction": round(finite.size / values.size, DECIMALS),
        "mean": round(float(finite.mean()), DECIMALS),
        "std": round(float(finite.std()), DECIMALS),
        "min": round(float(finite.min()), DECIMALS),
        "max": round(float(finite.max()), DECIMALS),
    }


def file_record(path: Path, href: str) -> dict[str, Any]:
    """``href`` (a bare file name: the record must not depend on where the work directory is),
    size in bytes and SHA-256 of the file at ``path`` (which may still be a temporary file)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"href": href, "size": path.stat().st_size, "sha256": digest}


def provenance_record(
    info: ProductInfo, soil_moisture: NDArray, qa: NDArray, assets: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The provenance record of a day (a JSON-able dict), per the "Products" contract.

    Args:
        info: what is not in the arrays.
        soil_moisture: the written soil moisture (for statistics and QA fractions).
        qa: the written QA band.
        assets: asset key -> :func:`file_record` of each file already written.

    The training mode is the model's (``model.training_mode``) and a setting that shaped the
    product (``parameters.training_mode``); ``model.window`` is its training window.
    """
    return {
        "day": info.day.isoformat(),
        "product_id": PRODUCT_ID,
        "region": region_record(info.region),
        "model": model_record(info.model),
        "inputs": {key: sorted(ids) for key, ids in info.inputs.items()},
        "input_times": input_times(info.inputs, info.day, info.gap_filling_days, info.smap_passes),
        "coarse_product": info.coarse_product,
        "smap_release": info.smap_release,
        "precip_run": info.precip_run,
        "qa_flags": {str(bit): name for bit, name in QA_DESCRIPTIONS.items()},
        "qa_fractions": qa_fractions(soil_moisture, qa),
        "statistics": statistics(soil_moisture),
        "thumbnail": {"colour_scale": colour_scale()},
        "assets": {key: dict(record) for key, record in assets.items()},
        "software": dict(info.software),
        "parameters": {"training_mode": info.model.training_mode, **info.parameters},
    }


def model_record(model: ModelInfo) -> dict[str, Any]:
    """The ``model`` block: name, version, run, kind, training mode, window and predictors (when known)."""
    record: dict[str, Any] = {
        "name": model.name,
        "version": model.version,
        "run_id": model.run_id,
        "kind": model.kind,
        "training_mode": model.training_mode,
    }
    if model.window is not None:
        record["window"] = {"start": model.window[0].isoformat(), "end": model.window[1].isoformat()}
    if model.predictors:
        record["predictors"] = list(model.predictors)
    return record


def training_of(record: Mapping[str, Any]) -> tuple[str, tuple[str, str] | None]:
    """(training mode, (window start, end) or None) of a provenance record; a record written
    before the mode existed is near-real-time (the only mode there was)."""
    model = record.get("model", {}) or {}
    mode = record.get("parameters", {}).get("training_mode") or model.get("training_mode")
    window = model.get("window")
    return str(mode or NEAR_REAL_TIME), (str(window["start"]), str(window["end"])) if window else None


def provenance_bytes(record: Mapping[str, Any]) -> bytes:
    """Stable JSON: sorted keys, two-space indent, UTF-8, trailing newline.

    Raises:
        TypeError: if a value is not JSON-serialisable (e.g. a numpy scalar in ``parameters``).
    """
    return (json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
