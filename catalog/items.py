"""The STAC item of one product day, built from the day's files alone.

Everything an item says comes from the product directory: the provenance record (model, inputs,
SMAP release, IMERG run, QA fractions, software), the COGs' band headers and statistics
(data type, nodata, scale/offset, unit; read through :func:`smprod.product.read.band_headers`,
tile by tile so memory stays bounded) and the files' sizes and SHA-256 (``file:checksum`` as
a sha2-256 multihash, ``1220`` + hex).
Asset titles, roles and media types are data in ``catalog/fragments/collection.json``.

Decisions that live here:

* **Item id** ``smprod-sm-1km-YYYYMMDD``; ``datetime`` is noon UTC of the day, with
  ``start_datetime``/``end_datetime`` the first and last second of the UTC day.
* **Revisions.** An item remembers what it was made from (``smprod:input_key``, the model
  version, the assets' checksums). Republishing identical files gives the identical item; when the
  files changed, ``smprod:revision`` goes up by one, ``smprod:reprocessed`` becomes true and
  ``smprod:reprocessing`` says why (e.g. ``model 3 -> 4``, ``IMERG Late -> Final``).
* **Timestamps without a clock.** ``updated`` is the modification time of the provenance record
  (when the day's files were written), ``created`` the ``updated`` of the first revision; the
  library never reads "now", so a republish of unchanged files changes nothing.
* **Freshness.** ``smprod:input_times`` says when each source's inputs were observed (SMAP days
  and passes, MODIS days with the gap-filling days and composites, IMERG run per day; each with
  ``start``/``end``), from the provenance (:func:`smprod.product.freshness.record_times`), and
  ``smprod:latency_hours`` is ``updated`` (when the files were written) minus the newest
  observation ``end``; recomputed after :func:`revise`, so an unchanged day keeps its value.
* **Training mode.** ``smprod:training_mode`` tells a reanalysis day (its model was trained on
  a window around the day, days after it included) from a near-real-time one (trained on past
  days only); ``smprod:training_window`` gives the window. Provenance written before the mode
  existed is near-real-time.
* **QA legend.** The ``qa`` asset carries ``classification:bitfields`` (STAC classification
  extension v2.0.0): one one-bit field per :class:`smprod.qa.QA` flag, named and described from
  :data:`smprod.qa.QA_DESCRIPTIONS` and :data:`smprod.qa.QA_MEANINGS` (the one definition of the
  bits, also behind the COG's CF flag metadata), so a generic STAC client can show a legend.
  No ``classification:classes``: the qa band is a pure bit field (its one whole-byte value, 255,
  is the band's ``nodata``) and the other COGs are continuous.
* **Model link.** ``via`` -> ``models:/<name>/<version>`` (the MLflow model-version URI, usable
  with ``mlflow.pyfunc.load_model``) and, when the tracking URI is an MLflow server
  (``http(s)://``), a second ``via`` link to the version's page in the MLflow UI.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from smprod.errors import CatalogError
from smprod.grids.ease import Region
from smprod.layout import PRODUCT_ID, ProductFiles
from smprod.product.freshness import latency_hours, record_times
from smprod.product.provenance import training_of
from smprod.product.read import BandHeader, BandStatistics, band_headers
from smprod.qa import QA_DESCRIPTIONS, QA_MEANINGS
from smprod.secrets import public_url

FRAGMENTS = Path(__file__).parent / "fragments"
EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
]
#: Multihash prefix of SHA2-256 (code 0x12, length 0x20), as the file extension requires.
SHA256_MULTIHASH = "1220"
#: Processing level of the product (STAC processing extension: a model output on a fixed grid).
PROCESSING_LEVEL = "L4"
DECIMALS = 6


def fragments() -> dict[str, Any]:
    """The static collection text and asset definitions (``fragments/collection.json``)."""
    return json.loads((FRAGMENTS / "collection.json").read_text())


def item_id(day: Any) -> str:
    return f"{PRODUCT_ID}-{day:%Y%m%d}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def file_fields(path: Path) -> dict[str, Any]:
    """``file:size`` and ``file:checksum`` (sha2-256 multihash) of ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"file:size": path.stat().st_size, "file:checksum": SHA256_MULTIHASH + digest.hexdigest()}


def qa_bitfields() -> list[dict[str, Any]]:
    """``classification:bitfields`` of the ``qa`` asset: one field of one bit per QA flag, lowest
    bit first, each with the classes 0 (``not_<name>``) and 1 (``<name>``)."""
    fields = []
    for bit, name in QA_DESCRIPTIONS.items():
        meaning = QA_MEANINGS[bit]
        fields.append(
            {
                "offset": int(bit).bit_length() - 1,
                "length": 1,
                "name": name,
                "description": meaning,
                "classes": [
                    {"value": 0, "name": f"not_{name}", "description": "the condition does not hold"},
                    {"value": 1, "name": name, "description": meaning},
                ],
            }
        )
    return fields


def raster_band(header: BandHeader) -> dict[str, Any]:
    """The ``raster:bands`` entry of a single-band COG: type, nodata, scale/offset, unit, stats."""
    band: dict[str, Any] = {
        "data_type": header.data_type,
        "scale": header.scale,
        "offset": header.offset,
        "sampling": "area",
        "spatial_resolution": header.resolution,
    }
    if header.nodata is not None:
        band["nodata"] = _nodata(header.nodata)
    if header.unit:
        band["unit"] = header.unit
    band["statistics"] = _statistics(header.statistics)
    return band


def _statistics(stats: BandStatistics) -> dict[str, float]:
    """The raster extension's ``statistics``, rounded to :data:`DECIMALS` (no extremes and
    moments without a valid pixel)."""
    out = {"valid_percent": round(stats.valid_percent, DECIMALS)}
    for key in ("minimum", "maximum", "mean", "stddev"):
        value = getattr(stats, key)
        if value is not None:
            out[key] = round(value, DECIMALS)
    return out


def _nodata(value: float) -> float | str:
    """Nodata as the raster extension writes it (``"nan"`` for NaN, JSON has no NaN)."""
    return "nan" if math.isnan(value) else value


def _geometry(region: Region) -> tuple[list[float], dict[str, Any]]:
    minlon, minlat, maxlon, maxlat = region.fine.lonlat_bounds()
    ring = [[minlon, minlat], [maxlon, minlat], [maxlon, maxlat], [minlon, maxlat], [minlon, minlat]]
    return [minlon, minlat, maxlon, maxlat], {"type": "Polygon", "coordinates": [ring]}


def _times(files: ProductFiles) -> dict[str, str]:
    start = datetime.combine(files.day, time(0), UTC)
    return {
        "datetime": rfc3339(start + timedelta(hours=12)),
        "start_datetime": rfc3339(start),
        "end_datetime": rfc3339(start + timedelta(days=1) - timedelta(seconds=1)),
    }


def input_key(record: dict[str, Any]) -> str:
    """The day's input key: the producer's (``parameters.input_key``), else a hash of ``inputs``."""
    key = record.get("parameters", {}).get("input_key")
    if key:
        return str(key)
    canonical = json.dumps(
        {k: sorted(v) for k, v in sorted(record.get("inputs", {}).items())}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _properties(files: ProductFiles, region: Region, record: dict[str, Any]) -> dict[str, Any]:
    model = record["model"]
    bounds = region.fine.bounds
    software = {str(k): str(v) for k, v in record.get("software", {}).items()}
    return {
        **_times(files),
        "gsd": region.fine.res,
        "proj:code": "EPSG:6933",
        "proj:shape": list(region.fine.shape),
        "proj:transform": list(region.fine.transform)[:6],
        "proj:bbox": list(bounds),
        "processing:level": PROCESSING_LEVEL,
        "processing:lineage": (
            f"SMAP {record['coarse_product']} ({record['smap_release']}) downscaled to 1 km by "
            f"{model['name']} v{model['version']} ({model.get('kind', '')}, "
            f"{training_of(record)[0]}), mass-corrected"
        ),
        "processing:software": software,
        "processing:version": software.get("smprod", ""),
        "smprod:model_name": model["name"],
        "smprod:model_version": str(model["version"]),
        "smprod:model_run_id": model["run_id"],
        "smprod:model_kind": model.get("kind", ""),
        "smprod:coarse_product": record["coarse_product"],
        "smprod:smap_release": record["smap_release"],
        "smprod:precip_run": record["precip_run"],
        "smprod:input_key": input_key(record),
        "smprod:qa_fractions": record.get("qa_fractions", {}),
        "smprod:input_times": record_times(record),
        **training_properties(record),
    }


def training_properties(record: dict[str, Any]) -> dict[str, Any]:
    """``smprod:training_mode`` (``near-real-time``: the model was trained on days before the
    product day only; ``reanalysis``: on a window around it, days after it included) and, when
    the provenance has it, ``smprod:training_window`` ``[first day, last day]``."""
    mode, window = training_of(record)
    properties: dict[str, Any] = {"smprod:training_mode": mode}
    if window is not None:
        properties["smprod:training_window"] = list(window)
    return properties


def _assets(files: ProductFiles, item_dir: Path) -> dict[str, dict[str, Any]]:
    definitions = fragments()["item_assets"]
    headers = band_headers(files)
    assets = {}
    for key, path in files.assets().items():
        asset = {"href": os.path.relpath(path, item_dir), **definitions[key], **file_fields(path)}
        if key in headers:
            asset["raster:bands"] = [raster_band(headers[key])]
        if key == "qa":
            asset["classification:bitfields"] = qa_bitfields()
        assets[key] = asset
    return assets


def model_links(record: dict[str, Any], tracking_uri: str | None) -> list[dict[str, Any]]:
    """``via`` links to the MLflow model version (URI always; UI page for an MLflow server).

    The UI link is the server's public address: user name, password and query of the tracking
    URI never go into an item (:func:`smprod.secrets.public_url`).
    """
    name, version = record["model"]["name"], record["model"]["version"]
    links = [
        {
            "rel": "via",
            "href": f"models:/{name}/{version}",
            "title": f"MLflow registered model version {name} v{version}",
        }
    ]
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        links.append(
            {
                "rel": "via",
                "href": f"{public_url(tracking_uri).rstrip('/')}/#/models/{name}/versions/{version}",
                "type": "text/html",
                "title": f"{name} v{version} in the MLflow UI",
            }
        )
    return links


def build_item(
    files: ProductFiles, region: Region, item_dir: Path, tracking_uri: str | None
) -> dict[str, Any]:
    """The item of a produced day as a STAC 1.1 dict (first revision; see :func:`revise`).

    Raises:
        CatalogError: when a product file of the day is missing (the day was not produced).
    """
    missing = [key for key, path in files.assets().items() if not path.is_file()]
    if missing:
        raise CatalogError(
            f"{files.day} cannot be published: {', '.join(missing)} missing in {files.provenance.parent} "
            f"(produce the day first: smprod run --day {files.day})"
        )
    record = json.loads(files.provenance.read_text())
    bbox, geometry = _geometry(region)
    properties = _properties(files, region, record)
    written = rfc3339(datetime.fromtimestamp(files.provenance.stat().st_mtime, UTC))
    properties.update(
        {"created": written, "updated": written, "smprod:revision": 1, "smprod:reprocessed": False}
    )
    _set_latency(properties)
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": EXTENSIONS,
        "id": item_id(files.day),
        "collection": PRODUCT_ID,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "links": [
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            *model_links(record, tracking_uri),
        ],
        "assets": _assets(files, item_dir),
    }


def _set_latency(props: dict[str, Any]) -> None:
    """``smprod:latency_hours`` from ``updated`` and ``smprod:input_times`` (absent without inputs)."""
    hours = latency_hours(datetime.fromisoformat(props["updated"]), props.get("smprod:input_times", {}))
    if hours is None:
        props.pop("smprod:latency_hours", None)
    else:
        props["smprod:latency_hours"] = hours


def _checksums(item: dict[str, Any]) -> dict[str, str]:
    return {key: asset.get("file:checksum", "") for key, asset in item.get("assets", {}).items()}


def revise(item: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Carry the revision history of ``previous`` (the item already published for the day) over.

    Same asset checksums -> the previous revision, reprocessing flags and timestamps are kept (the
    item is unchanged). Different -> revision + 1, ``smprod:reprocessed`` true and the reasons.
    """
    if previous is None:
        return item
    props, before = item["properties"], previous.get("properties", {})
    props["created"] = before.get("created", props["created"])
    if _checksums(previous) == _checksums(item):
        for key in ("updated", "smprod:revision", "smprod:reprocessed", "smprod:reprocessing"):
            if key in before:
                props[key] = before[key]
        _set_latency(props)
        return item
    props["smprod:revision"] = int(before.get("smprod:revision", 1)) + 1
    props["smprod:reprocessed"] = True
    props["smprod:reprocessing"] = reprocessing_reasons(before, props)
    return item


def reprocessing_reasons(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Why a day was made again, e.g. ``["model 3 -> 4", "IMERG Late -> Final"]``."""
    labels = {
        "smprod:model_version": "model",
        "smprod:training_mode": "training",
        "smprod:precip_run": "IMERG",
        "smprod:smap_release": "SMAP release",
        "smprod:coarse_product": "coarse product",
        "processing:version": "smprod",
    }
    reasons = [
        f"{label} {before.get(key)} -> {after.get(key)}"
        for key, label in labels.items()
        if before.get(key) != after.get(key)
    ]
    if before.get("smprod:input_key") != after.get("smprod:input_key"):
        reasons.append("input granules changed")
    return reasons or ["product files changed"]
