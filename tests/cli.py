"""Running ``smprod`` as a user does, and checking how it refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def smprod(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``smprod ARGS`` in a child without this process's ``SMPROD_*`` variables (plus ``env``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    full = {**clean, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    command = [sys.executable, "-m", "flows.cli", *args]
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=timeout, check=False)


def refused(result: subprocess.CompletedProcess[str], *fragments: str, code: int = 2) -> str:
    """Assert exit ``code`` (2: a user error), no traceback, and every fragment in the message
    (taken as one line, whatever the wrapping); returns that line."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message
    return message
