"""Shared fixtures.

Real sample granules live in ``../shared/realdata`` beside the clone (the developers' workspace and
CI). A user's clone has none: tests that need them skip and say so, unless
``SMPROD_REQUIRE_SHARED=1`` (set by ``.ci/run``) turns the absence into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
REALDATA = SHARED / "realdata"


def _need_shared(path: Path) -> Path:
    if path.exists():
        return path
    message = (
        f"{path} is missing: the real sample files live in ../shared beside the clone, which exists "
        "only in the developers' workspace and CI, not in a user's clone"
    )
    if os.environ.get("SMPROD_REQUIRE_SHARED") == "1":
        pytest.fail(message + " (SMPROD_REQUIRE_SHARED=1 makes this a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Root of the real sample files (``../shared/realdata``)."""
    return _need_shared(REALDATA)


@pytest.fixture(scope="session")
def shared_tools() -> Path:
    """``../shared/tools`` (the independent archive checker)."""
    return _need_shared(SHARED / "tools")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep files for people to look at (screenshots, plots): ``test-artifacts/``."""
    path = PROJECT_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server (pgserver) for the whole test session; stopped at the end."""
    import pgserver

    data = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(data, cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def database_url(pg_server, request) -> str:
    """URL of a fresh database, migrated with the real Alembic migrations (all branches)."""
    import re
    import uuid

    from smprod import db

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    pg_server.psql(f'CREATE DATABASE "{name}";')
    base = pg_server.get_uri()  # postgresql://postgres:@/postgres?host=...
    url = db.normalise_url(base.replace("/postgres?", f"/{name}?", 1))
    db.upgrade(url)
    return url


@pytest.fixture
def mlflow_tracking_uri(pg_server) -> str:
    """A fresh, real MLflow tracking store in a PostgreSQL database of the session server."""
    import uuid

    from smprod import db

    name = f"mlflow_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))


#: A small synthetic world shared by science and flow tests: 3 x 4 coarse cells, 22 days.
SMALL_BBOX = (-98.0, 35.0, -96.8, 35.7)
SMALL_START = "2024-06-01"
SMALL_DAYS = 22


@pytest.fixture(scope="session")
def small_world(tmp_path_factory, pg_server):
    """A synthetic archive and its ingested inputs (every day), with the ledger in PostgreSQL.

    Returns a namespace with ``archive``, ``layout``, ``region``, ``days``, ``database_url``.
    """
    import types
    from datetime import date, timedelta

    from smprod import db
    from smprod.grids.ease import region_from_bbox
    from smprod.inputs.ingest import ingest_day
    from smprod.inputs.sources import ArchiveSource
    from smprod.layout import WorkLayout
    from smprod.synthetic.archive import write_archive

    root = tmp_path_factory.mktemp("small_world")
    start = date.fromisoformat(SMALL_START)
    write_archive(root / "archive", start, SMALL_DAYS, SMALL_BBOX, 36, seed=11)
    pg_server.psql('CREATE DATABASE "small_world";')
    url = db.normalise_url(pg_server.get_uri().replace("/postgres?", "/small_world?", 1))
    db.upgrade(url)
    region = region_from_bbox(SMALL_BBOX, 36)
    layout = WorkLayout(root / "work")
    days = [start + timedelta(days=i) for i in range(SMALL_DAYS)]
    source = ArchiveSource(root / "archive")
    for day in days:
        ingest_day(day, region, "SPL3SMP", source, layout, db.make_engine(url))
    return types.SimpleNamespace(
        archive=root / "archive", layout=layout, region=region, days=days, database_url=url
    )


@pytest.fixture
def stoppable_postgres(tmp_path_factory):
    """An embedded PostgreSQL (infra.stack) of its own, for tests that stop it mid-way.

    Yields the :class:`infra.stack.EmbeddedStack` (databases ``smprod``, migrated, and
    ``mlflow``); stopped at the end whatever the test left running.
    """
    from infra.stack import EmbeddedStack

    stack = EmbeddedStack(tmp_path_factory.mktemp("pgstop"))  # a short path: the unix-socket limit
    stack.up_postgres()
    yield stack
    stack.down_postgres()


@pytest.fixture
def benchmark_work(tmp_path: Path):
    """A work folder for a benchmark run as a subprocess (``--work``), whose embedded PostgreSQL
    (``<work>/stack``, left running by design so that a rerun reuses it) is stopped afterwards,
    so no server outlives the test."""
    yield tmp_path
    from infra.stack import EmbeddedStack

    EmbeddedStack(tmp_path / "stack").down_postgres()
