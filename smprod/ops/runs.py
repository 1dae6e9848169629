"""The production run ledger and the per-day lock.

Every attempt to produce a day is a row in ``production_runs``: which day, which Prefect flow run,
which inputs and model, how long each stage took, how it ended and why. Operators read it to see
what ran, reprocessing reads it to find days whose inputs improved.

A day is never produced by two runs at once: :func:`day_lock` takes a PostgreSQL advisory lock
keyed by the day, held on its own connection for the duration of the production. Advisory locks
work across processes and machines (Dask workers) and vanish when the holder dies (kill -9), so a
crashed run never leaves a stale lock behind.

How runs end: ``succeeded``/``skipped``; ``failed`` with the error; ``cancelled`` when a stop
(SIGTERM) was honoured at a safe point. A run whose process died stays ``running`` until the next
run of its day closes it (:func:`close_abandoned`). A run that cannot be closed because the
database went away is written to the pending journal (:func:`finish_or_defer`, files under
``<workdir>/ledger-pending/``) and closed with its real outcome by the next run once the
database is back (:func:`apply_pending`), not as "abandoned".
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from smprod.db import Base, outage_as_error, session_scope
from smprod.errors import DatabaseError, SmprodError

#: Namespace of smprod's advisory locks (first key), so they cannot collide with other users'.
LOCK_NAMESPACE = 0x534D  # "SM"

STATUSES = ("running", "succeeded", "failed", "skipped", "cancelled")
#: The pending journal's folder under the work directory (see the module docstring).
PENDING_DIR = "ledger-pending"


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
    with _writing(engine, f"recording the start of {day} in the run ledger") as session:
        run = ProductionRun(day=day, flow_run_id=flow_run_id, status="running", inputs={}, stage_seconds={})
        session.add(run)
        session.flush()
        return int(run.id)


def record_stage(engine: Engine, run_id: int, stage: str, seconds: float) -> None:
    """Add one stage's duration to the run."""
    with _writing(engine, f"recording stage {stage!r} of run {run_id} in the run ledger") as session:
        run = session.get_one(ProductionRun, run_id)
        run.stage_seconds = {**run.stage_seconds, stage: round(seconds, 3)}


def update_run(engine: Engine, run_id: int, **fields: Any) -> None:
    """Set inputs, input_key or the model of a run as the stages learn them."""
    operation = f"recording {', '.join(sorted(fields))} of run {run_id} in the run ledger"
    with _writing(engine, operation) as session:
        run = session.get_one(ProductionRun, run_id)
        for key, value in fields.items():
            setattr(run, key, value)


def finish_run(engine: Engine, run_id: int, status: str, error: str | None = None) -> None:
    """Close the run with its final status (and the error that ended it)."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with _writing(engine, f"closing run {run_id} as {status} in the run ledger") as session:
        run = session.get_one(ProductionRun, run_id)
        run.status = status
        run.error = error
        run.finished_at = sa.func.now()  # type: ignore[assignment]


def finish_or_defer(
    engine: Engine, run_id: int, status: str, error: str | None, pending: Path, ended_at: datetime
) -> DatabaseError | None:
    """Close the run; when the database is unavailable, journal the closure instead.

    Args:
        pending: the pending journal's folder (``<workdir>/ledger-pending``).
        ended_at: when the run ended (the caller's clock), kept as ``finished_at``.

    Returns:
        None when closed; the outage's :class:`DatabaseError` when journalled (the caller
        decides whether it is news: after a failure it is not, after a success it is).
    """
    try:
        finish_run(engine, run_id, status, error)
    except DatabaseError as err:
        entry = {"run_id": run_id, "status": status, "error": error, "ended_at": ended_at.isoformat()}
        _write_pending(pending / f"run-{run_id}.json", entry)
        return err
    return None


def _write_pending(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w") as out:
        json.dump(entry, out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def apply_pending(engine: Engine, pending: Path) -> list[int]:
    """Close the runs journalled by :func:`finish_or_defer` while the database was away.

    Only runs still ``running`` are changed (applying twice, or from two processes, is harmless);
    each entry is removed once applied.

    Returns:
        The ids of the runs closed now.

    Raises:
        DatabaseError: the database is still unavailable (the entries stay for the next run).
    """
    closed = []
    for path in sorted(pending.glob("run-*.json")) if pending.is_dir() else []:
        entry = json.loads(path.read_text())
        with _writing(engine, f"closing run {entry['run_id']} from the pending journal") as session:
            result = session.execute(
                sa.update(ProductionRun)
                .where(ProductionRun.id == entry["run_id"], ProductionRun.status == "running")
                .values(
                    status=entry["status"],
                    error=entry["error"],
                    finished_at=datetime.fromisoformat(entry["ended_at"]),
                )
            )
        if result.rowcount:  # type: ignore[attr-defined]
            closed.append(int(entry["run_id"]))
        path.unlink(missing_ok=True)
    return closed


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
    """Mark runs of ``day`` still 'running' as failed (their process died); call under the lock.

    Call :func:`apply_pending` first, so that runs ended by a database outage get their real
    outcome, not this one.
    """
    with _writing(engine, f"closing abandoned runs of {day} in the run ledger") as session:
        result = session.execute(
            sa.update(ProductionRun)
            .where(ProductionRun.day == day, ProductionRun.status == "running")
            .values(status="failed", error="abandoned: the process died before finishing")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def close_runs_of_flow_run(engine: Engine, flow_run_id: str, error: str) -> int:
    """Mark 'running' runs of a flow run whose process is known to be dead as failed."""
    with _writing(engine, f"closing the runs of flow run {flow_run_id} in the run ledger") as session:
        result = session.execute(
            sa.update(ProductionRun)
            .where(ProductionRun.flow_run_id == flow_run_id, ProductionRun.status == "running")
            .values(status="failed", error=error, finished_at=sa.func.now())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def day_lock(engine: Engine, day: date, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the advisory lock of ``day`` for the block.

    Args:
        wait_s: how long to keep trying before giving up (0: fail at once).

    The release never masks what ended the block: when the unlock cannot be sent (the database
    went away) the connection is discarded instead, and with its session the server drops the
    lock (a discarded connection is never handed out again still holding it).

    Raises:
        DayLockedError: another run holds the lock.
        DatabaseError: the database cannot be reached.
    """
    key = day.toordinal()
    with outage_as_error(engine.url, f"taking the lock of {day}"):
        conn = engine.connect()
    try:
        with outage_as_error(engine.url, f"taking the lock of {day}"):
            _acquire(conn, key, day, wait_s)
        try:
            yield
        finally:
            _release(conn, key)
    finally:
        conn.close()


def _acquire(conn: sa.Connection, key: int, day: date, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_NAMESPACE, key))).scalar():
        if time.monotonic() >= deadline:
            raise DayLockedError(f"{day} is being produced by another run right now; try again later")
        time.sleep(1.0)
    conn.commit()


def _release(conn: sa.Connection, key: int) -> None:
    try:
        conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_NAMESPACE, key)))
        conn.commit()
    except SQLAlchemyError:
        conn.invalidate()


@contextmanager
def _writing(engine: Engine, operation: str) -> Iterator[Any]:
    try:
        with outage_as_error(engine.url, operation), session_scope(engine) as session:
            yield session
    except DatabaseError:
        raise
    except SQLAlchemyError as err:
        raise DatabaseError(f"run ledger write failed while {operation}: {err}") from err
