"""How the chaos suite runs ``smprod`` as an operator does, and watches it get to a stage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from datetime import date
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: A day's stages in the order the daily flow runs them (flows/daily.py ``_stages``).
STAGES = ("ingest", "model", "produce", "publish", "validate")


def smprod_env(site: types.SimpleNamespace, prefect_api: str) -> dict[str, str]:
    """The environment of a ``smprod`` child: the site's settings as ``SMPROD_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMPROD_", "PREFECT_"))}
    env.update({f"SMPROD_{k.upper()}": str(v) for k, v in site.overrides.items()})
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "SMPROD_PREFECT_API_URL": prefect_api})
    return env


def start(
    site: types.SimpleNamespace, prefect_api: str, log: Path, *args: str, wrapper: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``[wrapper] smprod ARGS`` in its own process group, its output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*wrapper, sys.executable, "-m", "flows.cli", *args],
            cwd=log.parent, env=smprod_env(site, prefect_api), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def running_stages(engine: sa.Engine, day: date) -> list[str] | None:
    """The stages the running run of ``day`` has finished (None: no run of the day is running)."""
    query = sa.text("SELECT stage_seconds FROM production_runs WHERE day = :d AND status = 'running'")
    with engine.connect() as conn:
        stages = conn.execute(query, {"d": day}).scalar()
    return None if stages is None else sorted(stages, key=STAGES.index)


def wait_for_stage(
    engine: sa.Engine, day: date, stage: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 300
) -> None:
    """Poll the run ledger until the running run of ``day`` has started ``stage``: the stage
    before it is recorded (``ingest``: the run has started). The ledger is the marker an
    operator sees; the poll is fast next to the stages (tens of milliseconds against seconds)."""
    before = list(STAGES[: STAGES.index(stage)])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"smprod ended early ({proc.returncode}): {log.read_text()[-3000:]}"
        if running_stages(engine, day) == before:
            return
        time.sleep(0.02)
    raise AssertionError(f"the run of {day} did not start {stage!r} within {timeout_s} s")


def output_of(log: Path) -> str:
    return log.read_text(errors="replace")


def error_lines(output: str) -> list[str]:
    """The CLI's ``error: ...`` lines (one per expected failure)."""
    return [line for line in output.splitlines() if line.startswith("error:")]
