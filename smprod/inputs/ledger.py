"""The granule ledger (table ``granules``) and quarantine.

Every granule the system has seen gets one row, keyed by its official file name (the granule
id), with where it is, what CMR said about it and what happened to it:

- ``discovered``: known to exist upstream, no local file yet;
- ``downloaded``: a local file exists (downloaded, or found in the archive);
- ``valid``: it was read and gridded without error;
- ``quarantined``: it failed to download correctly, open or pass a check; ``reason`` says why and
  the file (if any) sits in ``<workdir>/quarantine/`` beside ``<name>.reason.txt``;
- ``used``: it went into a product day; ``used_by`` lists those days (so a day made with a
  lesser input can be found and reprocessed).

Writes are PostgreSQL upserts; rerunning a day updates rows (``last_seen``) and adds none. The
schema comes from the Alembic migration ``ingest_0001`` (branch ``ingest``). Timestamps come
from the database clock (``now()``), not from the library.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, mapped_column

from smprod.db import Base, unavailable
from smprod.errors import DatabaseError
from smprod.inputs.granules import GranuleName
from smprod.inputs.sources.base import GranuleRef
from smprod.layout import WorkLayout

STATUSES = ("discovered", "downloaded", "valid", "quarantined", "used")
#: Suffix of the note written beside a quarantined file.
REASON_SUFFIX = ".reason.txt"


class GranuleRecord(Base):
    """One granule the system has seen (see the module docstring for the statuses)."""

    __tablename__ = "granules"

    granule_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    product: Mapped[str] = mapped_column(sa.String(40))
    day: Mapped[date]
    tile: Mapped[str | None] = mapped_column(sa.String(6))
    release: Mapped[str | None] = mapped_column(sa.String(40))
    path: Mapped[str | None] = mapped_column(sa.Text)
    url: Mapped[str | None] = mapped_column(sa.Text)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    checksum: Mapped[str | None] = mapped_column(sa.String(128))
    checksum_algorithm: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    first_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    last_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    used_by: Mapped[list[date]] = mapped_column(ARRAY(sa.Date), server_default="{}")

    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES!r}", name="granules_status_known"),
        sa.Index("granules_product_day", "product", "day"),
    )


_TABLE = cast(sa.Table, GranuleRecord.__table__)  # declarative models map exactly one Table


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except OperationalError as err:
        raise unavailable(engine.url, "writing the granule ledger", err) from err
    except ProgrammingError as err:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"granule ledger at {where}: {err.orig} (run `smprod db upgrade`?)") from err


def _identity(granule: GranuleName) -> dict[str, Any]:
    return {
        "granule_id": granule.name,
        "product": granule.product,
        "day": granule.day,
        "tile": granule.tile,
        "release": granule.release_id,
    }


def record_found(engine: Engine, refs: Iterable[GranuleRef]) -> int:
    """Upsert granules a source found: new ones as ``discovered``/``downloaded``.

    An existing row keeps its status, except that ``discovered`` becomes ``downloaded`` when a
    local file appears, and a ``quarantined`` granule found again at a *new* local path (a fresh
    copy) starts over as ``downloaded``. ``last_seen`` is always refreshed.

    Returns:
        The number of granules written.
    """
    rows = [_found_row(ref) for ref in refs]
    if not rows:
        return 0
    stmt = insert(_TABLE).values(rows)
    with _transaction(engine) as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["granule_id"], set_=_found_updates(stmt)))
    return len(rows)


def _found_row(ref: GranuleRef) -> dict[str, Any]:
    return {
        **_identity(ref.granule),
        "path": str(ref.path) if ref.path else None,
        "url": ref.url,
        "size": ref.size,
        "checksum": ref.checksum,
        "checksum_algorithm": ref.checksum_algorithm,
        "status": "downloaded" if ref.path else "discovered",
    }


def _found_updates(stmt: Insert) -> dict[str, Any]:
    """The update of an existing row by a found granule (the rules of :func:`record_found`)."""
    new, old = stmt.excluded, _TABLE.c
    fresh_copy = sa.and_(
        old.status == "quarantined", new.path.is_not(None), new.path.is_distinct_from(old.path)
    )
    status = sa.case(
        (fresh_copy, new.status),
        (sa.and_(old.status == "discovered", new.status == "downloaded"), new.status),
        else_=old.status,
    )
    return {
        "status": status,
        "reason": sa.case((fresh_copy, None), else_=old.reason),
        "last_seen": sa.func.now(),
        **{
            c: sa.func.coalesce(getattr(new, c), getattr(old, c))
            for c in ("path", "url", "size", "checksum", "checksum_algorithm")
        },
        "release": new.release,
    }


def set_status(
    engine: Engine, granule: GranuleName, status: str, *, reason: str | None = None, path: Path | None = None
) -> None:
    """Record ``status`` (and ``reason``, ``path`` when given) for one granule, inserting it if new.

    Raises:
        ValueError: ``status`` is not one of :data:`STATUSES`.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown granule status {status!r}; use one of {STATUSES}")
    row = {**_identity(granule), "status": status, "reason": reason, "path": str(path) if path else None}
    stmt = insert(_TABLE).values(row)
    updates = {
        "status": status,
        "reason": reason,
        "last_seen": sa.func.now(),
        "path": sa.func.coalesce(stmt.excluded.path, _TABLE.c.path),
    }
    with _transaction(engine) as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["granule_id"], set_=updates))


def mark_used(engine: Engine, granule_ids: Sequence[str], day: date) -> int:
    """Set ``used`` and add ``day`` to ``used_by`` (once) for granules already in the ledger.

    Returns:
        The number of rows updated.
    """
    if not granule_ids:
        return 0
    c = _TABLE.c
    day_param = sa.cast(sa.literal(day), sa.Date)
    stmt = (
        sa.update(_TABLE)
        .where(c.granule_id.in_(list(granule_ids)))
        .values(
            status="used",
            reason=None,
            last_seen=sa.func.now(),
            used_by=sa.case(
                (day_param == sa.any_(c.used_by), c.used_by), else_=sa.func.array_append(c.used_by, day_param)
            ),
        )
    )
    with _transaction(engine) as conn:
        return conn.execute(stmt).rowcount


def _write_reason(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def quarantine(
    engine: Engine, layout: WorkLayout, granule: GranuleName, path: Path | None, reason: str
) -> Path:
    """Move a bad granule to ``<workdir>/quarantine/`` with a ``.reason.txt`` and record it.

    Idempotent: quarantining a granule again (its file already moved) rewrites the reason and
    the record. ``path`` None records a granule that has no file (e.g. a download that failed
    its checksum and was removed).

    Returns:
        The path in the quarantine folder (which may not exist when there was no file).
    """
    layout.quarantine.mkdir(parents=True, exist_ok=True)
    target = layout.quarantine / granule.name
    if path is not None and Path(path).exists() and Path(path).resolve() != target.resolve():
        shutil.move(path, target)  # a rename on one file system; copy + delete across them
    _write_reason(target.with_name(granule.name + REASON_SUFFIX), f"{granule.name}: {reason}")
    set_status(engine, granule, "quarantined", reason=reason, path=target if target.exists() else None)
    return target


def granule_rows(
    engine: Engine, *, day: date | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Ledger rows (as dicts), optionally of one product day (``used_by``) or one status."""
    query = sa.select(_TABLE).order_by(_TABLE.c.product, _TABLE.c.day, _TABLE.c.granule_id)
    if day is not None:
        query = query.where(sa.cast(sa.literal(day), sa.Date) == sa.any_(_TABLE.c.used_by))
    if status is not None:
        query = query.where(_TABLE.c.status == status)
    with _transaction(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
