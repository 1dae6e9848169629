"""Publish a product day into the static STAC catalog under ``<workdir>/catalog``.

Layout: ``catalog.json`` -> ``smprod-sm-1km/collection.json`` -> one item per day in
``smprod-sm-1km/smprod-sm-1km-YYYYMMDD/smprod-sm-1km-YYYYMMDD.json``; every href is relative, so
the catalog can be moved or served as it is (asset hrefs point at ``<workdir>/products``).

Crash-safety, in this order: (1) the item is written to a temporary file beside it and renamed
(readers see the old item or the new one, never half of one); (2) only then the collection and
the root catalog are rebuilt from all item files present and written the same way. A publish
killed between (1) and (2) leaves a complete item the collection does not list yet; the next
publish of any day lists it (and ``smprod catalog validate`` reports it meanwhile). Temporary
files of a killed publish are removed by the next publish. Collection rebuilds are serialised by
an exclusive lock on ``<catalog>/.collection.lock`` so concurrent publishers cannot drop each
other's item links. Item content is in :mod:`catalog.items`, the collection in
:mod:`catalog.collection`.

The item is built from one version of the day's files (a day switched while they are read is read
again, :mod:`smprod.product.dayswitch`). Every publish first settles ``<workdir>/products``: what
killed product writers left (hidden staging directories, ``.part`` files; a live writer's are left
alone) is removed and a switch they left half done is finished. That is the cleanup the next run
performs; the file server never serves those leftovers meanwhile (hidden names).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pystac

from catalog.collection import build_collection, load_items, root_catalog
from catalog.items import EXTENSIONS, build_item, item_id, revise
from smprod.errors import CatalogError
from smprod.grids.ease import Region
from smprod.layout import PRODUCT_ID, ProductFiles, WorkLayout
from smprod.product.dayswitch import one_version, settle_products

__all__ = ["EXTENSIONS", "item_for_day", "publish_day", "write_collection"]

log = logging.getLogger(__name__)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _remove_stale_temporaries(directory: Path) -> None:
    """Temporary files left by a publish that was killed (ours are ``.<name>.tmp<pid>``)."""
    for stale in directory.glob(".*.json.tmp*"):
        stale.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # absent, or damaged by hand: publish as a first revision


def item_for_day(
    files: ProductFiles, region: Region, catalog_root: Path, tracking_uri: str | None
) -> pystac.Item:
    """The STAC item of a produced day (first revision), hrefs relative to its item file."""
    item_dir = catalog_root / PRODUCT_ID / item_id(files.day)
    return pystac.Item.from_dict(build_item(files, region, item_dir, tracking_uri))


def publish_day(layout: WorkLayout, region: Region, day: date, tracking_uri: str | None = None) -> Path:
    """Write (or replace) the item of ``day``, then rebuild the collection; returns the item path.

    Raises:
        CatalogError: when the day's product files are missing or the catalog cannot be written.
    """
    root = layout.catalog
    item_dir = root / PRODUCT_ID / item_id(day)
    item_path = item_dir / f"{item_id(day)}.json"
    files = layout.product_files(day)
    _settle_products(layout)
    item = one_version(files.directory, lambda: build_item(files, region, item_dir, tracking_uri))
    item = revise(item, _read(item_path) if item_path.exists() else None)
    try:
        _remove_stale_temporaries(item_dir)
        _write_json(item_path, item)
        write_collection(root)
    except OSError as err:
        raise CatalogError(f"cannot write the catalog under {root}: {err}") from err
    return item_path


def _settle_products(layout: WorkLayout) -> None:
    """Leftovers of killed product writers removed, half-done switches finished (logged); one that
    cannot be removed is logged, not fatal: it is hidden, never served, and the next publish tries again."""
    try:
        for line in settle_products(layout.products):
            log.info("products: %s", line)
    except OSError as err:
        log.warning("products: leftovers of a killed write not removed: %s", err)


@contextmanager
def _collection_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".collection.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_collection(root: Path) -> None:
    """Rebuild ``collection.json`` and ``catalog.json`` from the item files under ``root``."""
    with _collection_lock(root):
        items = load_items(root)
        if not items:
            return
        _remove_stale_temporaries(root / PRODUCT_ID)
        _remove_stale_temporaries(root)
        _write_json(root / PRODUCT_ID / "collection.json", build_collection(items))
        _write_json(root / "catalog.json", root_catalog())
