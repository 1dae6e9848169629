"""strace for the fault tests: whether it can trace here, and a fixture that skips without it.

The fault tests kill or fail a child at a chosen system call with strace's syscall injection
(``-e inject=SYSCALL:signal=SIGKILL:when=N``, ``-P PATH`` for the calls touching one path).
``SMPROD_REQUIRE_STRACE=1`` (set by ``.ci/run``) turns a missing or refused strace into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

STRACE = shutil.which("strace")


def strace_problem() -> str | None:
    """Why strace cannot be used here, or None when it can."""
    if STRACE is None:
        return "strace is not installed (Debian package strace)"
    probe = subprocess.run([STRACE, "-qq", "-o", os.devnull, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()}"
    return None


def need_strace() -> None:
    """Skip the calling test without strace (fail under ``SMPROD_REQUIRE_STRACE=1``)."""
    problem = strace_problem()
    if problem is None:
        return
    if os.environ.get("SMPROD_REQUIRE_STRACE") == "1":
        pytest.fail(problem + " (SMPROD_REQUIRE_STRACE=1 makes this a failure)")
    pytest.skip(problem)
