"""The documented exit codes of expected failures (flows/cli.py)."""

from __future__ import annotations

import signal

import pytest

from flows.cli import exit_code
from smprod.errors import ConfigError, DatabaseError, MissingInputError, StoppedError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MissingInputError("no valid SPL3SMP granule"), 1),
        (ConfigError("setting 'bbox'"), 2),
        (DatabaseError("database 'smprod' on db unavailable"), 3),
        (StoppedError(signal.SIGTERM, "before 2024-06-02"), 143),
        (StoppedError(signal.SIGINT, "before 2024-06-02"), 130),
    ],
)
def test_exit_code(error, code):
    assert exit_code(error) == code
