"""PostgreSQL access: the declarative base, engines, sessions and schema migrations.

Every table of smprod is declared on :class:`Base` in the module that owns it (the granule
ledger in :mod:`smprod.inputs.ledger`, validation tables in :mod:`smprod.validation`, ...), and
created by an Alembic migration in ``smprod/db/migrations`` (never by ``create_all``), so that
tests build the schema exactly as production does. The migrations live beside the models they
create and ship in the wheel as package data (``env.py``, ``script.py.mako``, ``versions/*.py``:
not an importable package, since Alembic loads them by path and ``env.py`` runs on import).

Migrations form independent branches off one base revision (one branch per area, each with a
``branch_labels`` entry); :func:`upgrade` applies ``heads``, i.e. all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from smprod.errors import DatabaseError

#: Alembic scripts (package data of ``smprod.db``, so an installed smprod can migrate).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of every smprod table."""


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with pre-ping (a restarted server is not an error)."""
    return sa.create_engine(normalise_url(url), pool_pre_ping=True, future=True)


#: Driver failures that mean "the server is not there" (refused, stopped, connection lost),
#: as opposed to a bad statement or a missing table.
OUTAGES = (OperationalError, InterfaceError)


def describe(url: str | URL) -> str:
    """Which database ``url`` names, for messages: ``'smprod' on host:port as user``, no password.

    A unix-socket URL (``?host=/path``, as the embedded PostgreSQL's) names its socket directory.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "an unparsable database URL"
    query_host = parsed.query.get("host")
    host = parsed.host or (query_host if isinstance(query_host, str) else None) or "localhost"
    where = f"{host}:{parsed.port}" if parsed.port else host
    user = f" as {parsed.username}" if parsed.username else ""
    return f"{parsed.database or '(default)'!r} on {where}{user}"


def unavailable(url: str | URL, operation: str, err: Exception) -> DatabaseError:
    """The :class:`DatabaseError` of an outage: the database, what was being done, the driver's reason.

    Args:
        url: the database (its password never appears in the message).
        operation: what was being done, e.g. ``"recording stage 'produce' of 2024-06-20"``.
        err: the driver's error (SQLAlchemy's, whose ``orig`` is psycopg's).
    """
    reason = " ".join(str(getattr(err, "orig", None) or err).split()).rstrip(".")
    return DatabaseError(
        f"database {describe(url)} unavailable while {operation}: {reason} (check that PostgreSQL "
        "is running; rerun when it is back: the interrupted run is closed then)"
    )


@contextmanager
def outage_as_error(url: str | URL, operation: str) -> Iterator[None]:
    """Turn a lost or refused connection inside the block into :func:`unavailable`'s error."""
    try:
        yield
    except OUTAGES as err:
        raise unavailable(url, operation, err) from err


def check_connection(engine: Engine) -> None:
    """Fail clearly when the database cannot be reached.

    Raises:
        DatabaseError: naming the server (without credentials) and the driver's reason.
    """
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as err:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot reach the database at {where}: {err.orig}") from err


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    """An Alembic ``Config`` pointing at the project's migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema at ``url`` up to date (all migration branches)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_heads(url: str) -> set[str]:
    """Revisions the database is at (empty before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with make_engine(url).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
