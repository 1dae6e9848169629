"""The production run ledger and the per-day lock.

Every attempt to produce a day is a row in ``production_runs``: which day, which Prefect flow run,
which inputs and model, how long each stage took, how it ended and why. Operators read it to see
what ran, reprocessing reads it to find days whose inputs improved.

A day is never produced by two runs at once: :func:`day_lock` takes a PostgreSQL advisory lock
keyed by the day, held on its own connection for the duration of the production. Advisory locks
work across processes and machines (Dask workers) and vanish when the holder dies (kill -9), so a
crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from smprod.db import Base, session_scope
from smprod.errors import DatabaseError, SmprodError

#: Namespace of smprod's advisory locks (first key), so they cannot collide with other users'.
LOCK_NAMESPACE = 0x534D  # "SM"

STATUSES = ("running", "succeeded", "failed", "skipped")


class DayLockedError(SmprodError):
    """Raised when another run is producing the same day right now."""


class ProductionRun(Base):
    """One attempt at producing one day."""

    __tablename__ = "production_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(index=True)
    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    input_key: Mapped[str | None] = mapped_column(sa.String(64))
    model_name: Mapped[str | None] = mapped_column(sa.String(200))
    model_version: Mapped[str | None] = mapped_column(sa.String(40))
    stage_seconds: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


def start_run(engine: Engine, day: date, flow_run_id: str | None) -> int:
    """Record that producing ``day`` has started; returns the run id."""
    with _writing(engine) as session:
        run = ProductionRun(day=day, flow_run_id=flow_run_id, status="running", inputs={}, stage_seconds={})
        session.add(run)
        session.flush()
        return int(run.id)


def record_stage(engine: Engine, run_id: int, stage: str, seconds: float) -> None:
    """Add one stage's duration to the run."""
    with _writing(engine) as session:
        run = session.get_one(ProductionRun, run_id)
        run.stage_seconds = {**run.stage_seconds, stage: round(seconds, 3)}


def update_run(engine: Engine, run_id: int, **fields: Any) -> None:
    """Set inputs, input_key or the model of a run as the stages learn them."""
    with _writing(engine) as session:
        run = session.get_one(ProductionRun, run_id)
        for key, value in fields.items():
            setattr(run, key, value)


def finish_run(engine: Engine, run_id: int, status: str, error: str | None = None) -> None:
    """Close the run with its final status (and the error that ended it)."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with _writing(engine) as session:
        run = session.get_one(ProductionRun, run_id)
        run.status = status
        run.error = error
        run.finished_at = sa.func.now()  # type: ignore[assignment]


def latest_success(engine: Engine, day: date) -> ProductionRun | None:
    """The most recent successful run of ``day``, or None."""
    with session_scope(engine) as session:
        return session.scalars(
            sa.select(ProductionRun)
            .where(ProductionRun.day == day, ProductionRun.status == "succeeded")
            .order_by(ProductionRun.id.desc())
            .limit(1)
        ).first()


def finished_with(engine: Engine, day: date, input_key: str, model_version: str) -> bool:
    """Whether the latest successful run of ``day`` used these inputs and this model version.

    Files on disk are not enough to call a day done: a run killed after writing the product but
    before publishing or validating leaves current-looking files behind (the crash test in
    ``tests/e2e/test_operations.py``); only a succeeded run in the ledger proves every stage ran.
    """
    last = latest_success(engine, day)
    return last is not None and last.input_key == input_key and last.model_version == str(model_version)


def runs_of(engine: Engine, day: date) -> list[ProductionRun]:
    """Every recorded run of ``day``, oldest first."""
    with session_scope(engine) as session:
        query = sa.select(ProductionRun).where(ProductionRun.day == day).order_by(ProductionRun.id)
        return list(session.scalars(query))


def close_abandoned(engine: Engine, day: date) -> int:
    """Mark runs of ``day`` still 'running' as failed (their process died); call under the lock."""
    with _writing(engine) as session:
        result = session.execute(
            sa.update(ProductionRun)
            .where(ProductionRun.day == day, ProductionRun.status == "running")
            .values(status="failed", error="abandoned: the process died before finishing")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def day_lock(engine: Engine, day: date, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the advisory lock of ``day`` for the block.

    Args:
        wait_s: how long to keep trying before giving up (0: fail at once).

    Raises:
        DayLockedError: another run holds the lock.
        DatabaseError: the database cannot be reached.
    """
    key = day.toordinal()
    try:
        conn = engine.connect()
    except OperationalError as err:
        raise DatabaseError(f"cannot take the lock of {day}: database unreachable ({err.orig})") from err
    try:
        deadline = time.monotonic() + wait_s
        while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_NAMESPACE, key))).scalar():
            if time.monotonic() >= deadline:
                raise DayLockedError(f"{day} is being produced by another run right now; try again later")
            time.sleep(1.0)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_NAMESPACE, key)))
            conn.commit()
    finally:
        conn.close()


@contextmanager
def _writing(engine: Engine) -> Iterator[Any]:
    try:
        with session_scope(engine) as session:
            yield session
    except OperationalError as err:
        raise DatabaseError(f"cannot write the run ledger: {err.orig}") from err
    except SQLAlchemyError as err:
        raise DatabaseError(f"run ledger write failed: {err}") from err
