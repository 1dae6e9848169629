"""The collection and root catalog, rebuilt from the item files on disk.

The collection is derived, never edited: its item links, extent and summaries are recomputed from
every item file present, so a publish that died between writing an item and rewriting the
collection is repaired by the next publish of any day. Static text (title, description, licence,
keywords, providers) and ``item_assets`` come from ``catalog/fragments/collection.json``.

Summaries (what a person filtering the catalog wants to know without opening items): model
versions, training modes (``near-real-time``, ``reanalysis``), IMERG runs, SMAP releases and
coarse products seen, ``gsd`` and ``proj:code``; the temporal extent runs from the first day's
start to the last day's end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalog.items import fragments, qa_bitfields
from smprod.layout import PRODUCT_ID

#: Extensions whose fields the collection itself uses (``proj:code`` summary, ``raster:bands``
#: and the qa asset's ``classification:bitfields`` in ``item_assets``).
COLLECTION_EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
]
#: Item properties summarised as the sorted set of values seen.
SUMMARISED = (
    "smprod:model_version",
    "smprod:training_mode",
    "smprod:precip_run",
    "smprod:smap_release",
    "smprod:coarse_product",
    "gsd",
    "proj:code",
)
JSON = "application/json"


def item_files(root: Path) -> list[Path]:
    """Every item file of the collection, in day order (temporary files never match)."""
    return sorted((root / PRODUCT_ID).glob(f"{PRODUCT_ID}-*/{PRODUCT_ID}-*.json"))


def build_collection(items: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """The collection dict for ``(item file, item dict)`` pairs (at least one)."""
    static = fragments()
    properties = [item["properties"] for _, item in items]
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": COLLECTION_EXTENSIONS,
        **{key: static[key] for key in ("id", "title", "description", "license", "keywords", "providers")},
        "extent": _extent([item for _, item in items]),
        "summaries": _summaries(properties),
        "item_assets": _item_assets(static["item_assets"]),
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": JSON},
            {"rel": "parent", "href": "../catalog.json", "type": JSON},
            *(
                {"rel": "item", "href": f"./{path.parent.name}/{path.name}", "type": JSON}
                for path, _ in items
            ),
        ],
    }


def _item_assets(static: dict[str, Any]) -> dict[str, Any]:
    """The fragment's asset definitions, the qa asset with its QA legend (as on every item)."""
    return {**static, "qa": {**static["qa"], "classification:bitfields": qa_bitfields()}}


def _extent(items: list[dict[str, Any]]) -> dict[str, Any]:
    boxes = [item["bbox"] for item in items]
    starts = [item["properties"]["start_datetime"] for item in items]
    ends = [item["properties"]["end_datetime"] for item in items]
    bbox = [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
    return {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[min(starts), max(ends)]]}}


def _summaries(properties: list[dict[str, Any]]) -> dict[str, Any]:
    summaries: dict[str, Any] = {}
    for key in SUMMARISED:
        values = {p[key] for p in properties if p.get(key) not in (None, "")}
        if values:
            summaries[key] = sorted(values, key=_version_order)
    return summaries


def _version_order(value: Any) -> tuple[int, Any]:
    """Numbers (and numeric strings such as model versions) in numeric order, then text."""
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def root_catalog() -> dict[str, Any]:
    """The root ``catalog.json``: one child, the product collection."""
    return {
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "smprod",
        "title": "smprod products",
        "description": "Products of smprod, the operational 1 km soil-moisture system.",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": JSON},
            {"rel": "child", "href": f"./{PRODUCT_ID}/collection.json", "type": JSON},
        ],
    }


def load_items(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(path, item)`` of every item file under ``root`` that parses (others are skipped: a
    validator run reports them)."""
    items = []
    for path in item_files(root):
        try:
            items.append((path, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return items
