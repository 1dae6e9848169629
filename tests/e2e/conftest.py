"""Fixtures of the end-to-end tests: one Prefect test server per test module."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="module")
def prefect_api() -> str:
    """The module's Prefect test server (its API URL); modules that need another define their own."""
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
