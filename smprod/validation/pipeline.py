"""One validation run: ingest stations, match published product days, compute and store skill.

Everything is recomputed from the archive's station files and the published products, and
written with upserts, so a run can be repeated (same rows) and a run after an outage catches up
on every day of its range. The caller (CLI or flow) supplies the dates, settings values and
paths; nothing here reads the environment or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from smprod.db import check_connection
from smprod.grids.ease import Region
from smprod.layout import WorkLayout
from smprod.validation import stations
from smprod.validation.collocation import collocation_rows
from smprod.validation.matchups import DayFields, StationSite, locate, read_day_fields, sample_day
from smprod.validation.skill import Exclusion, compute_skill
from smprod.validation.tables import (
    InsituDaily,
    Matchup,
    Station,
    ValidationCollocation,
    ValidationMetric,
    database_error,
    upsert,
)


@dataclass
class ValidationRun:
    """What a run did, for the printed report and the logs."""

    ingest: stations.IngestReport | None = None
    outside_region: list[str] = field(default_factory=list)
    days_matched: list[date] = field(default_factory=list)
    days_without_product: list[date] = field(default_factory=list)
    matchup_rows: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    collocation: list[dict[str, Any]] = field(default_factory=list)


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _query(engine: Engine, statement: sa.Select) -> list[sa.Row]:
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement))
    except (OperationalError, ProgrammingError) as err:
        raise database_error(engine, err, "reading validation data") from err


def load_sites(engine: Engine) -> list[StationSite]:
    """Every station in the database, as positions to locate."""
    rows = _query(
        engine, sa.select(Station.id, Station.station_key, Station.network, Station.lon, Station.lat)
    )
    return [StationSite(r.id, r.station_key, r.network, r.lon, r.lat) for r in rows]


def load_insitu(engine: Engine, start: date, end: date) -> dict[date, dict[int, float]]:
    """Daily in situ means from ``start`` to ``end``: day -> station id -> m3/m3."""
    statement = sa.select(InsituDaily.station_id, InsituDaily.day, InsituDaily.sm).where(
        InsituDaily.day.between(start, end)
    )
    out: dict[date, dict[int, float]] = {}
    for row in _query(engine, statement):
        out.setdefault(row.day, {})[row.station_id] = row.sm
    return out


def match_days(
    engine: Engine, layout: WorkLayout, region: Region, days: Iterable[date], run: ValidationRun
) -> None:
    """Upsert the matchups of every published day in ``days``; record what was missing."""
    days = list(days)
    if not days:
        return
    cells, outside = locate(load_sites(engine), region)
    run.outside_region = [site.key for site in outside]
    insitu = load_insitu(engine, min(days), max(days))
    for day in days:
        fields = read_day_fields(layout, day, region)
        if fields is None:
            run.days_without_product.append(day)
            continue
        run.matchup_rows += upsert(engine, Matchup, sample_day(fields, cells, insitu.get(day, {}), region))
        run.days_matched.append(day)


def match_fields(engine: Engine, region: Region, fields: DayFields) -> int:
    """Upsert the matchups of one day from arrays held in memory (the production path).

    The daily flow calls this right after producing a day, so the ``uncorrected`` model output,
    which is not published, is matched too. Returns the number of rows written.
    """
    cells, _ = locate(load_sites(engine), region)
    insitu = load_insitu(engine, fields.day, fields.day).get(fields.day, {})
    return upsert(engine, Matchup, sample_day(fields, cells, insitu, region))


def load_matchups(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """Matchups from ``start`` to ``end`` joined with their station's key and network."""
    statement = (
        sa.select(
            Station.station_key,
            Station.network,
            Matchup.day,
            Matchup.variant,
            Matchup.model_version,
            Matchup.insitu,
            Matchup.product,
            Matchup.precip,
        )
        .join(Station, Station.id == Matchup.station_id)
        .where(Matchup.day.between(start, end))
    )
    rows = _query(engine, statement)
    columns = ["station_key", "network", "day", "variant", "model_version", "insitu", "product", "precip"]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def store_skill(
    engine: Engine, computed_for: date, window_days: tuple[int, ...], min_n: int, run: ValidationRun
) -> None:
    """Compute the metrics and the triple collocation of every window ending on ``computed_for``
    and upsert them."""
    first = computed_for - timedelta(days=max(window_days) - 1)
    matchups = load_matchups(engine, first, computed_for)
    rows, excluded = compute_skill(matchups, computed_for, window_days, min_n)
    collocation = collocation_rows(matchups, computed_for, window_days, min_n)
    upsert(engine, ValidationMetric, rows)
    upsert(engine, ValidationCollocation, collocation)
    run.metrics, run.excluded, run.collocation = rows, excluded, collocation


def run_validation(
    engine: Engine,
    layout: WorkLayout,
    region: Region,
    station_files: Iterable[Path],
    start: date,
    end: date,
    window_days: tuple[int, ...],
    min_n: int,
) -> ValidationRun:
    """Ingest ``station_files``, match days ``start``..``end``, store metrics computed for ``end``.

    Raises:
        DatabaseError: when the database is unreachable or not migrated (nothing half-done
            matters: a rerun repeats every step with upserts).
        ProductError: when a published product is unreadable or on another grid.
    """
    check_connection(engine)
    run = ValidationRun()
    run.ingest = stations.ingest(engine, station_files)
    match_days(engine, layout, region, days_between(start, end), run)
    store_skill(engine, end, window_days, min_n, run)
    return run


def published_days(layout: WorkLayout) -> list[date]:
    """Days with a published ``soil_moisture`` COG under the work directory, sorted
    (:meth:`smprod.layout.WorkLayout.product_days`, the one rule for it)."""
    return layout.product_days()


def validate_produced_day(
    engine: Engine,
    region: Region,
    station_files: Iterable[Path],
    fields: DayFields,
    window_days: tuple[int, ...],
    min_n: int,
) -> ValidationRun:
    """The daily flow's validate stage: refresh stations, match the day from memory, store skill."""
    run = ValidationRun(ingest=stations.ingest(engine, station_files))
    run.matchup_rows = match_fields(engine, region, fields)
    run.days_matched = [fields.day]
    store_skill(engine, fields.day, window_days, min_n, run)
    return run
