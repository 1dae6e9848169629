"""PostgreSQL access: the declarative base, engines, sessions and schema migrations.

Every table of smprod is declared on :class:`Base` in the module that owns it (the granule
ledger in :mod:`smprod.ledger`, validation tables in :mod:`smprod.validation`, ...), and
created by an Alembic migration in ``infra/migrations`` (never by ``create_all``), so that tests
build the schema exactly as production does.

Migrations form independent branches off one base revision (one branch per area, each with a
``branch_labels`` entry); :func:`upgrade` applies ``heads``, i.e. all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from smprod.errors import DatabaseError

#: Alembic scripts (shipped inside the package tree so an installed smprod can migrate).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "migrations"


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
