"""The embedded PostgreSQL and the migration machinery, on a real server."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from smprod import db
from smprod.errors import DatabaseError

pytestmark = pytest.mark.integration


def test_migrations_reach_every_head(database_url):
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(db.alembic_config(database_url)).get_heads())
    assert db.current_heads(database_url) == heads
    db.upgrade(database_url)  # a second upgrade is a no-op
    assert db.current_heads(database_url) == heads


def test_session_scope_commits_and_rolls_back(database_url):
    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (v int)")
    with db.session_scope(engine) as session:
        session.execute(sa.text("INSERT INTO probe VALUES (1)"))
    with pytest.raises(RuntimeError), db.session_scope(engine) as session:
        session.execute(sa.text("INSERT INTO probe VALUES (2)"))
        raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT array_agg(v) FROM probe").scalar() == [1]


def test_unreachable_database_is_a_clear_error(tmp_path):
    engine = db.make_engine(f"postgresql+psycopg://nobody@/none?host={tmp_path}")
    with pytest.raises(DatabaseError, match="cannot reach the database"):
        db.check_connection(engine)
