"""The accuracy suite's small version runs end to end (CI keeps the benchmark from rotting).

Its figures mean nothing (two small worlds, ten days of history); the full suite's figures are in
docs/models.md. What is checked: every world gets its table, the product conserves SMAP's cell
means, and the last line is the ``suite:`` line scripts read.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUITE_LINE = re.compile(
    r"^suite: worlds=2 worst_ratio=\d+\.\d{3} median_ratio=\d+\.\d{3} worst_av_r=-?\d+\.\d{3} "
    r"median_av_r=-?\d+\.\d{3} median_subgrid_r=-?\d+\.\d{3}$"
)


def _small_suite(work: Path, *options: str) -> list[str]:
    """The output lines of ``accuracy.py --suite --small`` (with ``options``), which must succeed."""
    command = [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"), "--suite", "--small", *options]
    done = subprocess.run(
        [*command, "--work", str(work)], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_small_suite_prints_every_world_and_the_suite_line(benchmark_work):
    lines = _small_suite(benchmark_work)
    assert SUITE_LINE.match(lines[-1]), lines[-1]
    assert any(line.startswith("tuning worlds: worlds=1") for line in lines)
    assert any(line.startswith("held-out worlds: worlds=1") for line in lines)
    products = [line.split() for line in lines if line.strip().startswith("product ")]
    assert len(products) == 2  # one row per world
    for row in products:
        ratio, residual = float(row[1]), float(row[4])
        assert 0.3 < ratio < 2.0
        assert residual <= 1e-4  # mass conserved wherever feasible


def test_small_suite_with_sif_variants_scores_each_world_with_and_without_sif(benchmark_work):
    lines = _small_suite(benchmark_work, "--sif-variants")
    assert SUITE_LINE.match(lines[-1]), lines[-1]  # the product's line stays last
    assert any(
        SUITE_LINE.match(line.removeprefix("product-sif ")) for line in lines if "product-sif suite:" in line
    )
    rows = [line.split() for line in lines if line.startswith("  product-sif ")]  # the worlds' tables
    assert len(rows) == 2 and all(float(row[4]) <= 1e-4 for row in rows)  # mass conserved with SIF too
    assert any(line.startswith("product-sif vs product: tuning median") for line in lines)
    assert len(list((benchmark_work / "small-36" / "archive" / "sif").glob("GOSIF_*.tif"))) > 0


def test_small_suite_scores_the_stations_over_the_days_after_the_scored_ones(benchmark_work):
    lines = _small_suite(benchmark_work, "--long-stations")
    assert SUITE_LINE.match(lines[-1]), lines[-1]
    # small worlds: 2 scored days and history // 2 = 5 days after them
    titles = [line for line in lines if line.startswith(("small-36 (", "small-9 ("))]
    assert len(titles) == 2 and all("stations over 7 days" in t for t in titles), titles
    assert (benchmark_work / "small-36-after5" / "archive" / "truth").is_dir()
    stations = [float(line.split()[-3]) for line in lines if line.strip().startswith("product ")]
    assert len(stations) == 2 and all(0 < s < 0.2 for s in stations)
