"""Fixtures of the chaos suite: one champion and one Prefect test server for the whole package.

The champion is trained once on the small synthetic world (tests/conftest.py, tests/e2e/flow_worlds.py)
and shared by every fault; each fault gets its own work directory, archive copy and database.
"""

from __future__ import annotations

import types

import pytest
from prefect.testing.utilities import prefect_test_harness

from tests.e2e.flow_worlds import train_champion


@pytest.fixture(scope="package")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """A champion trained on the 14 days before the small world's last day (built once)."""
    return train_champion(small_world, pg_server, tmp_path_factory, "chaos")[0]


@pytest.fixture(scope="package")
def prefect_api() -> str:
    """The package's Prefect test server (its API URL), for the ``smprod`` subprocesses."""
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
