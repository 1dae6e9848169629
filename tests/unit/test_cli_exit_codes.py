"""The documented exit codes of expected failures (flows/cli.py)."""

from __future__ import annotations

import pytest

from flows.cli import exit_code
from smprod.errors import ConfigError, DatabaseError, MissingInputError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MissingInputError("no valid SPL3SMP granule"), 1),
        (ConfigError("setting 'bbox'"), 2),
        (DatabaseError("database 'smprod' on db unavailable"), 3),
    ],
)
def test_exit_code(error, code):
    assert exit_code(error) == code
