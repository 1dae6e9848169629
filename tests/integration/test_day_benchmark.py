"""The day benchmark's small version runs end to end (CI keeps it from rotting).

Its figures mean nothing (a region of 0.1 M cells on a shared machine); the full run's figures
are in docs/models.md. What is checked: every stage is timed, ingest's reading is attributed to
the granule products the day needs, and the last line is the ``day:`` line scripts read.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAY_LINE = re.compile(r"^day: cells=\d+ seconds=\d+\.\d cells_per_min=\d+ peak_mib=\d+$")


def test_small_day_benchmark_times_every_stage_and_prints_the_day_line(benchmark_work):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "day.py"), "--sizes", "0.1", "--repeats", "1",
         "--training-days", "8", "--work", str(benchmark_work)],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert DAY_LINE.match(lines[-1]), lines[-1]
    table = "\n".join(lines)
    for stage in ("ingest", "produce", "publish", "validate"):
        assert re.search(rf"^  {stage} +\d+\.\d\d +\d+\.\d\d$", table, re.M), stage
    for product in ("SPL3SMP", "MOD11A1", "MYD11A1", "MOD13A2", "MCD43A3", "MCD12Q1", "static layers"):
        assert f"read {product}" in table, product
    assert "regrid to_fine" in table
