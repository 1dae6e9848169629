"""Publish a product day into the static STAC catalog under ``<workdir>/catalog``.

Crash-safe: the item is written to a temporary file and renamed, and only then the collection
(links, extent) is rewritten, also atomically; a rerun of a day replaces its item (one item per
day). Static collection text and asset definitions live in ``catalog/fragments/collection.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pystac

from smprod.errors import CatalogError
from smprod.grid import Region
from smprod.layout import PRODUCT_ID, ProductFiles, WorkLayout

FRAGMENTS = Path(__file__).parent / "fragments"
#: Assets of an item, in order (the files of :class:`smprod.layout.ProductFiles`).
ASSET_KEYS = ("soil_moisture", "qa", "uncertainty", "thumbnail", "provenance")
EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _file_fields(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"file:size": path.stat().st_size, "file:checksum": "1220" + digest}  # multihash sha2-256


def item_for_day(
    files: ProductFiles, region: Region, catalog_root: Path, tracking_uri: str | None
) -> pystac.Item:
    """The STAC item of a produced day, with hrefs relative to the item file.

    Raises:
        CatalogError: when a product file of the day is missing (the day was not produced).
    """
    missing = [key for key in ASSET_KEYS if not getattr(files, key).is_file()]
    if missing:
        raise CatalogError(
            f"{files.day} cannot be published: {', '.join(missing)} missing in {files.provenance.parent} "
            f"(produce the day first: smprod run --day {files.day})"
        )
    record = json.loads(files.provenance.read_text())
    minlon, minlat, maxlon, maxlat = region.fine.lonlat_bounds()
    start = datetime.combine(files.day, time(0), UTC)
    item = pystac.Item(
        id=f"{PRODUCT_ID}-{files.day:%Y%m%d}",
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[minlon, minlat], [maxlon, minlat], [maxlon, maxlat], [minlon, maxlat], [minlon, minlat]]
            ],
        },
        bbox=[minlon, minlat, maxlon, maxlat],
        datetime=start + timedelta(hours=12),
        properties={
            "start_datetime": start.isoformat().replace("+00:00", "Z"),
            "end_datetime": (start + timedelta(days=1) - timedelta(seconds=1))
            .isoformat()
            .replace("+00:00", "Z"),
            "proj:code": "EPSG:6933",
            "proj:shape": list(region.fine.shape),
            "proj:transform": list(region.fine.transform)[:6],
            "processing:software": record.get("software", {}),
            "smprod:model_name": record["model"]["name"],
            "smprod:model_version": str(record["model"]["version"]),
            "smprod:model_run_id": record["model"]["run_id"],
            "smprod:coarse_product": record["coarse_product"],
            "smprod:smap_release": record["smap_release"],
            "smprod:precip_run": record["precip_run"],
            "smprod:qa_fractions": record.get("qa_fractions", {}),
        },
        stac_extensions=EXTENSIONS,
    )
    item_dir = catalog_root / PRODUCT_ID / item.id
    fragments = json.loads((FRAGMENTS / "collection.json").read_text())["item_assets"]
    for key in ASSET_KEYS:
        path: Path = getattr(files, key)
        extra = {**fragments[key], **_file_fields(path)}
        item.add_asset(
            key,
            pystac.Asset(
                href=os.path.relpath(path, item_dir),
                media_type=extra.pop("type"),
                title=extra.pop("title"),
                roles=extra.pop("roles"),
                extra_fields=extra,
            ),
        )
    if tracking_uri:
        item.add_link(
            pystac.Link(
                "via",
                f"models:/{record['model']['name']}/{record['model']['version']}",
                title="MLflow registered model version",
            )
        )
    return item


def publish_day(layout: WorkLayout, region: Region, day: date, tracking_uri: str | None = None) -> Path:
    """Write (or replace) the item of ``day``, then update the collection; returns the item path."""
    root = layout.catalog
    item = item_for_day(layout.product_files(day), region, root, tracking_uri)
    item_path = root / PRODUCT_ID / item.id / f"{item.id}.json"
    previous = json.loads(item_path.read_text()) if item_path.exists() else None
    if previous is not None:
        item.properties["smprod:reprocessed"] = True
    item_dict = item.to_dict(include_self_link=False, transform_hrefs=False)
    item_dict["collection"] = PRODUCT_ID  # required by STAC 1.1 when a collection link exists
    item_dict["links"] = [link for link in item_dict["links"] if link["rel"] == "via"] + [
        {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        {"rel": "parent", "href": "../collection.json", "type": "application/json"},
        {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
    ]
    _write_json(item_path, item_dict)
    _write_collection(root)
    return item_path


def _write_collection(root: Path) -> None:
    items = sorted((root / PRODUCT_ID).glob(f"{PRODUCT_ID}-*/{PRODUCT_ID}-*.json"))
    dicts = [json.loads(p.read_text()) for p in items]
    fragments = json.loads((FRAGMENTS / "collection.json").read_text())
    bboxes = [d["bbox"] for d in dicts]
    times = sorted(d["properties"]["start_datetime"] for d in dicts)
    collection = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        **{
            k: fragments[k]
            for k in ("id", "title", "description", "license", "keywords", "providers", "item_assets")
        },
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(b[0] for b in bboxes),
                        min(b[1] for b in bboxes),
                        max(b[2] for b in bboxes),
                        max(b[3] for b in bboxes),
                    ]
                ]
            },
            "temporal": {"interval": [[times[0], dicts[-1]["properties"]["end_datetime"]]]},
        },
        "summaries": {
            "proj:code": ["EPSG:6933"],
            "smprod:coarse_product": sorted({d["properties"]["smprod:coarse_product"] for d in dicts}),
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        ]
        + [{"rel": "item", "href": f"./{p.parent.name}/{p.name}", "type": "application/json"} for p in items],
    }
    _write_json(root / PRODUCT_ID / "collection.json", collection)
    catalog = {
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "smprod",
        "description": "smprod products",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": f"./{PRODUCT_ID}/collection.json", "type": "application/json"},
        ],
    }
    _write_json(root / "catalog.json", catalog)
