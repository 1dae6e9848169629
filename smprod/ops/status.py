"""Where production stands (``smprod status``): the newest produced day and its latency, the days
whose last run failed, and the days pending reprocessing.

Decisions that live here:

* **Newest day** = the newest day with a published product (``products/``), its produced time
  the provenance record's modification time (the STAC item's ``updated``) and its latency
  :func:`smprod.product.freshness.latency_hours`.
* **Failed** = days whose latest *finished* run in the run ledger (``succeeded`` or ``failed``;
  ``skipped`` and ``cancelled`` runs decide nothing, ``running`` ones have not ended) failed: a
  later success clears a failure, a later failure hides an older success.
* **Pending reprocessing**, with the reasons ``smprod reprocess`` and the skip rule would give:
  a published day whose input key is no longer the one it was made under (its inputs, the days
  gap filling reads, the settings or the product code changed:
  :func:`smprod.product.produce.key_changes`), and a published day for which the granule source
  now offers a better SMAP or IMERG granule (:func:`smprod.ops.reprocess.find_reprocessing`,
  quarantined granules excluded). Only a local archive is searched; Earthdata is left to
  ``smprod reprocess`` (a status must be quick and offline), and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smprod.db import outage_as_error, session_scope
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import InputStore
from smprod.inputs.sources.base import GranuleSource
from smprod.layout import WorkLayout
from smprod.ops.reprocess import find_reprocessing
from smprod.ops.runs import ProductionRun
from smprod.product.freshness import latency_hours, newest_observation, record_times, rfc3339
from smprod.product.produce import ProductSettings, input_key, key_changes
from smprod.product.provenance import ModelInfo

#: Run statuses that decide whether a day failed (module docstring).
DECIDING = ("succeeded", "failed")


@dataclass(frozen=True)
class NewestDay:
    """The newest published day: when it was produced and how late after its newest input."""

    day: date
    produced: datetime
    newest_input: datetime | None
    latency_hours: float | None


@dataclass(frozen=True)
class FailedDay:
    day: date
    error: str
    finished: datetime | None


@dataclass(frozen=True)
class PendingDay:
    day: date
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ProductionStatus:
    """What :func:`production_status` found; ``notes`` say what could not be looked at."""

    workdir: Path
    product_days: int
    newest: NewestDay | None
    failed: tuple[FailedDay, ...] = ()
    pending: tuple[PendingDay, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (dates ISO, times RFC 3339 UTC), for ``smprod status --json``."""
        return json.loads(json.dumps(asdict(self), default=_json_value))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date | Path):
        return str(value) if isinstance(value, Path) else value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _record(layout: WorkLayout, day: date) -> dict[str, Any]:
    try:
        return dict(json.loads(layout.product_files(day).provenance.read_text()))
    except (OSError, ValueError):
        return {}


def newest_day(layout: WorkLayout) -> NewestDay | None:
    """The newest published day, or None when nothing was produced."""
    days = layout.product_days()
    if not days:
        return None
    day = max(days)
    files = layout.product_files(day)
    produced = datetime.fromtimestamp(files.provenance.stat().st_mtime, UTC)
    times = record_times(_record(layout, day)) if _record(layout, day) else {}
    return NewestDay(day, produced, newest_observation(times), latency_hours(produced, times))


def failed_days(engine: Engine) -> list[FailedDay]:
    """Days whose latest succeeded-or-failed run failed, in day order."""
    latest = (
        sa.select(ProductionRun)
        .where(ProductionRun.status.in_(DECIDING))
        .order_by(ProductionRun.day, ProductionRun.id.desc())
        .distinct(ProductionRun.day)
    )
    with outage_as_error(engine.url, "reading the run ledger"), session_scope(engine) as session:
        runs = list(session.scalars(latest))
    return [FailedDay(r.day, r.error or "", r.finished_at) for r in runs if r.status == "failed"]


def stale_days(layout: WorkLayout, region: Region, settings: ProductSettings) -> list[PendingDay]:
    """Published days whose input key changed since they were made, with what changed."""
    store = InputStore(layout)
    pending = []
    for day in layout.product_days():
        record = _record(layout, day)
        if not record or not store.has(day):
            continue  # unreadable (smprod product check says why) or its inputs are gone
        key = input_key(store, day, region, settings)
        if key.value != record.get("parameters", {}).get("input_key"):
            pending.append(
                PendingDay(day, tuple(key_changes(layout.product_files(day), key, _model(record))))
            )
    return pending


def _model(record: dict[str, Any]) -> ModelInfo:
    """The model the record was made by (so :func:`key_changes` names input changes only)."""
    model = record.get("model", {})
    return ModelInfo(str(model.get("name")), str(model.get("version")), str(model.get("run_id")), "")


def improved_days(
    layout: WorkLayout,
    source: GranuleSource,
    bbox: tuple[float, float, float, float],
    exclude: Collection[str],
) -> list[PendingDay]:
    """Published days for which ``source`` now has a better SMAP or IMERG granule."""
    updates = find_reprocessing(layout, source, bbox, exclude=exclude)
    return [PendingDay(u.day, tuple(i.describe() for i in u.improvements)) for u in updates]


def merge_pending(*groups: Iterable[PendingDay]) -> tuple[PendingDay, ...]:
    """One entry per day, in day order, with every reason once."""
    reasons: dict[date, list[str]] = {}
    for group in groups:
        for pending in group:
            seen = reasons.setdefault(pending.day, [])
            seen.extend(r for r in pending.reasons if r not in seen)
    return tuple(PendingDay(day, tuple(reasons[day])) for day in sorted(reasons))


def status_lines(status: ProductionStatus) -> list[str]:
    """The human-readable report of ``smprod status``."""
    if status.newest is None and not status.failed:
        return [f"{status.workdir}: nothing produced yet", *status.notes]
    lines = [f"work directory: {status.workdir} ({status.product_days} product days)"]
    if status.newest is not None:
        newest = status.newest
        latency = "unknown" if newest.latency_hours is None else f"{newest.latency_hours:g} h"
        lines.append(f"newest day: {newest.day} (produced {rfc3339(newest.produced)}, latency {latency})")
    lines.append(f"failed days: {len(status.failed)}")
    lines += [f"  {f.day}: {f.error.splitlines()[0] if f.error else 'failed'}" for f in status.failed]
    lines.append(f"pending reprocessing: {len(status.pending)}")
    lines += [f"  {p.day}: {'; '.join(p.reasons)}" for p in status.pending]
    return lines + list(status.notes)
