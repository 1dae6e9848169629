"""Validation tables (SQLAlchemy 2 models) and their idempotent upserts.

The schema is created by the Alembic migrations ``validation_0001`` to ``validation_0003``
(branch ``validation``), never by ``create_all``; the models here must match them. Every write is a PostgreSQL
``INSERT ... ON CONFLICT DO UPDATE`` on the natural key, so rerunning a day or a validation
replaces rows instead of adding them:

- ``stations``: one row per ISMN sensor (network, station, sensor, depth range).
- ``insitu_daily``: UTC daily mean of good hourly values, key (station, day).
- ``matchups``: key (station, day, variant, model_version).
- ``validation_metrics``: key (scope, scope_name, window_name, variant, model_version,
  computed_for); with 95 % intervals and ``n_eff`` (``validation_0002``).
- ``validation_collocation``: triple-collocation errors, key (scope, scope_name, window_name,
  product_variant, model_version, computed_for).
- view ``validation_summary_30d``: the latest 30-day metrics, with intervals, next to SMAP's
  (a ``_common`` row next to ``smap_common``'s, on the same days: ``validation_0003``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, mapped_column

from smprod.db import OUTAGES, Base, unavailable
from smprod.errors import DatabaseError

#: Rows per INSERT statement (PostgreSQL allows 65535 bind parameters per statement).
BATCH_ROWS = 2000


class Station(Base):
    """One ISMN sensor at one station and depth (what one ``.stm`` file describes)."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    network: Mapped[str] = mapped_column(sa.String(100), index=True)
    station: Mapped[str] = mapped_column(sa.String(100))
    sensor: Mapped[str] = mapped_column(sa.String(100))
    lat: Mapped[float]
    lon: Mapped[float]
    elevation: Mapped[float | None]
    depth_from: Mapped[float]
    depth_to: Mapped[float]
    source_file: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class InsituDaily(Base):
    """UTC daily mean of a station's good (flag G) hourly soil moisture, m3/m3."""

    __tablename__ = "insitu_daily"

    station_id: Mapped[int] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    sm: Mapped[float]
    n_obs: Mapped[int]


class Matchup(Base):
    """A station-day pair: in situ value and one product variant's value at the station."""

    __tablename__ = "matchups"

    station_id: Mapped[int] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    model_version: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    model_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    insitu: Mapped[float]
    product: Mapped[float | None]
    precip: Mapped[float | None]
    fine_row: Mapped[int]
    fine_col: Mapped[int]
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ValidationMetric(Base):
    """Metrics of one variant over one window for a station, a network or all stations."""

    __tablename__ = "validation_metrics"

    scope: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    scope_name: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    window_name: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    variant: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    model_version: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    computed_for: Mapped[date] = mapped_column(primary_key=True)
    window_start: Mapped[date]
    window_end: Mapped[date]
    n: Mapped[int]
    n_stations: Mapped[int]
    r: Mapped[float | None]
    r_pvalue: Mapped[float | None]
    r_significant: Mapped[bool]
    bias: Mapped[float | None]
    rmse: Mapped[float | None]
    ubrmse: Mapped[float | None]
    mae: Mapped[float | None]
    station_mean_r: Mapped[float | None]
    station_mean_ubrmse: Mapped[float | None]
    #: Independent days behind the row (station-days for network and overall rows).
    n_eff: Mapped[float | None]
    r_ci_low: Mapped[float | None]
    r_ci_high: Mapped[float | None]
    bias_ci_low: Mapped[float | None]
    bias_ci_high: Mapped[float | None]
    rmse_ci_low: Mapped[float | None]
    rmse_ci_high: Mapped[float | None]
    ubrmse_ci_low: Mapped[float | None]
    ubrmse_ci_high: Mapped[float | None]
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ValidationCollocation(Base):
    """Random error sd (m3/m3, each system's own units) of product, SMAP and stations by triple
    collocation, with 95 % intervals, for a network or all stations over one window."""

    __tablename__ = "validation_collocation"

    scope: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    scope_name: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    window_name: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    product_variant: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    model_version: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    computed_for: Mapped[date] = mapped_column(primary_key=True)
    window_start: Mapped[date]
    window_end: Mapped[date]
    n_triplets: Mapped[int]
    n_stations: Mapped[int]
    product_error: Mapped[float | None]
    product_error_ci_low: Mapped[float | None]
    product_error_ci_high: Mapped[float | None]
    smap_error: Mapped[float | None]
    smap_error_ci_low: Mapped[float | None]
    smap_error_ci_high: Mapped[float | None]
    insitu_error: Mapped[float | None]
    insitu_error_ci_low: Mapped[float | None]
    insitu_error_ci_high: Mapped[float | None]
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


def _batches(rows: Sequence[Mapping[str, Any]]) -> Iterable[Sequence[Mapping[str, Any]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


def upsert(engine: Engine, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into ``model``'s table, updating every non-key column on conflict.

    The conflict target is the primary key, or ``station_key`` for :class:`Station`.

    Returns:
        The number of rows written.

    Raises:
        DatabaseError: if the database is unreachable or lacks the validation schema.
    """
    if not rows:
        return 0
    table = cast(sa.Table, model.__table__)  # declarative models map exactly one Table
    keys = ["station_key"] if model is Station else [c.name for c in table.primary_key.columns]
    try:
        with engine.begin() as conn:
            for batch in _batches(rows):
                stmt = insert(table).values(list(batch))
                updates: dict[str, Any] = {c: stmt.excluded[c] for c in batch[0] if c not in keys}
                updates.update({c.name: sa.func.now() for c in table.columns if c.name.endswith("_at")})
                conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates))
    except (OperationalError, ProgrammingError) as err:
        raise database_error(engine, err, f"writing {table.name}") from err
    return len(rows)


def database_error(engine: Engine, err: Exception, operation: str = "validating") -> DatabaseError:
    """A :class:`DatabaseError` naming the server (no password), what was being done and the fix.

    A lost or refused connection is an outage (:func:`smprod.db.unavailable`); anything else
    (a missing table) names the migration.
    """
    if isinstance(err, OUTAGES):
        return unavailable(engine.url, operation, err)
    where = engine.url.render_as_string(hide_password=True)
    reason = getattr(err, "orig", err)
    return DatabaseError(
        f"validation database step failed at {where}: {reason}. Check that the server is up and "
        "migrated (smprod db upgrade); rerun smprod validate later, it catches up."
    )
