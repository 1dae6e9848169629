"""The invariants a work directory and its database must hold after any fault and a rerun.

:func:`assert_consistent` is the one check the chaos suite (and the day-switch fault tests) make:

* every published day (a ``soil_moisture`` COG in ``products/YYYY/MM/DD``) passes the product
  check (:func:`smprod.product.read.product_problems`, what ``smprod product check`` runs): all
  files, valid COGs on the region's grid, provenance checksums of one version (no mixed day);
* the catalog validates with checksums (:func:`catalog.validate.validate_catalog`), and every
  published day has its item there (so no item describes files that were replaced: a stale day);
* the database (when given): no duplicate rows by natural key in the validation tables
  (stations, in situ days, matchups, metrics, collocation), the granule ledger and the run ledger
  (two succeeded runs of one day with one input key and model version would be a day made twice);
  no run left ``running`` (an orphan); every published day's provenance agrees with the last
  succeeded run of that day (input key, model version) and has its matchups (no rows lost);
* no leftover temporaries anywhere in the work directory: staging, ready and old directories of
  the day switch, ``.part``/``.partial``/``.tmp`` files of writers (products, catalog, inputs,
  quarantine, the ledger's pending journal).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from catalog.items import item_id
from catalog.validate import validate_catalog
from smprod import db
from smprod.grids.ease import Region
from smprod.layout import PRODUCT_ID, DaySwitchPaths, WorkLayout
from smprod.product.read import product_problems
from smprod.workdir import read_work_region

#: Natural keys of the tables a rerun must not duplicate (table -> key columns).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "stations": ("station_key",),
    "insitu_daily": ("station_id", "day"),
    "matchups": ("station_id", "day", "variant", "model_version"),
    "validation_metrics": ("scope", "scope_name", "window_name", "variant", "model_version", "computed_for"),
    "validation_collocation": (
        "scope", "scope_name", "window_name", "product_variant", "model_version", "computed_for",
    ),
    "granules": ("granule_id",),
}  # fmt: skip
#: Names of writers' temporaries and the day switch's hidden siblings (see smprod.layout).
TEMPORARY = re.compile(r"(\.part|\.partial|\.staging|\.tmp\d*)$|^\.\d\d\.(ready|old)$")
#: Folders of the work directory that are not smprod's files (an embedded stack's own data).
NOT_OURS = ("stack",)


def assert_consistent(workdir: Path, database_url: str | None = None, region: Region | None = None) -> None:
    """Assert every invariant above; ``region`` defaults to the work directory's record."""
    layout = WorkLayout(Path(workdir))
    if region is None:
        recorded = read_work_region(layout)
        assert recorded is not None, f"{layout.region_file} is missing: pass the region"
        region = recorded.region()
    days = layout.product_days()
    problems = {str(day): product_problems(layout.product_files(day), region) for day in days}
    assert not any(problems.values()), f"published days fail the product check: {problems}"
    assert leftovers(layout) == [], "temporaries left behind"
    if days:
        report = validate_catalog(layout.catalog, checksums=True)
        assert report.ok, f"the catalog does not validate:\n{report}"
        unlisted = [str(day) for day in days if not _item(layout, day).exists()]
        assert unlisted == [], f"published days without a STAC item: {unlisted}"
    if database_url is not None:
        _assert_database(layout, days, database_url)


def leftovers(layout: WorkLayout) -> list[str]:
    """Temporaries and day-switch siblings under the work directory, relative to it."""
    found = [
        path
        for path in layout.root.rglob("*")
        if TEMPORARY.search(path.name) and path.relative_to(layout.root).parts[0] not in NOT_OURS
    ]
    for month in layout.products.glob("[0-9]*/[0-9]*"):  # the switch's own view of each day
        for day_dir in month.glob("[0-9]*"):
            found += DaySwitchPaths(day_dir).leftovers()
    return sorted({str(path.relative_to(layout.root)) for path in found})


def _item(layout: WorkLayout, day: date) -> Path:
    return layout.catalog / PRODUCT_ID / item_id(day) / f"{item_id(day)}.json"


def _assert_database(layout: WorkLayout, days: list[date], database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            duplicates = {table: _duplicates(conn, table, key) for table, key in NATURAL_KEYS.items()}
            duplicates["production_runs"] = _duplicates(
                conn, "production_runs", ("day", "input_key", "model_version"), "status = 'succeeded'"
            )
            assert not any(duplicates.values()), f"duplicate rows: {duplicates}"
            running = conn.execute(sa.text("SELECT id, day FROM production_runs WHERE status = 'running'"))
            assert running.all() == [], "runs left 'running' in the ledger (orphans)"
            for day in days:
                _assert_day_recorded(conn, layout, day)
    finally:
        engine.dispose()


def _duplicates(conn: sa.Connection, table: str, key: tuple[str, ...], where: str = "TRUE") -> list:
    columns = ", ".join(key)
    query = f"SELECT {columns}, count(*) FROM {table} WHERE {where} GROUP BY {columns} HAVING count(*) > 1"
    return [tuple(row) for row in conn.execute(sa.text(query))]


def _assert_day_recorded(conn: sa.Connection, layout: WorkLayout, day: date) -> None:
    """The day's provenance is what the ledger's last succeeded run made, and it has matchups."""
    record = json.loads(layout.product_files(day).provenance.read_text())
    key, version = record["parameters"]["input_key"], str(record["model"]["version"])
    last = conn.execute(
        sa.text(
            "SELECT input_key, model_version FROM production_runs WHERE day = :day "
            "AND status = 'succeeded' ORDER BY id DESC LIMIT 1"
        ),
        {"day": day},
    ).one_or_none()
    assert last is not None and tuple(last) == (key, version), (
        f"{day}: the files are of input key {key} v{version}, the ledger's last succeeded run: {last}"
    )
    matchups = conn.execute(
        sa.text("SELECT count(*) FROM matchups WHERE day = :day AND model_version = :v"),
        {"day": day, "v": version},
    ).scalar()
    assert matchups, f"{day}: no matchups of v{version} (validation rows lost)"
