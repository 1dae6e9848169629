"""``smprod product check`` run as a user runs it: a subprocess on a real written product day."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from smprod.grids.ease import region_from_bbox
from smprod.layout import WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.write import write_product

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = "-100,34,-99,35"


def _smprod(*args: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SMPROD_") or k == "SMPROD_REQUIRE_SHARED"}
    command = [sys.executable, "-m", "flows.cli", *args, "--workdir", str(workdir), "--bbox", BBOX]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    region = region_from_bbox(tuple(float(v) for v in BBOX.split(",")))  # type: ignore[arg-type]
    day = date(2024, 6, 1)
    info = ProductInfo(day, region, ModelInfo("m", "1", "r", "rf"), {}, "SPL3SMP", "R19240_001", "Final")
    sm = np.random.default_rng(0).uniform(0.05, 0.45, region.fine.shape)
    files = WorkLayout(tmp_path).product_files(day)
    write_product(files, sm, np.zeros(sm.shape, np.uint8), np.full(sm.shape, 0.03), info)
    return tmp_path


def test_check_reports_a_valid_day_and_exits_0(workdir: Path) -> None:
    result = _smprod("product", "check", "2024-06-01", workdir=workdir)
    assert result.returncode == 0, result.stderr
    assert "ok: product 2024-06-01" in result.stdout


def test_check_names_the_problem_and_exits_1(workdir: Path) -> None:
    qa = WorkLayout(workdir).product_files(date(2024, 6, 1)).qa
    qa.write_bytes(qa.read_bytes()[:-10])
    result = _smprod("product", "check", "2024-06-01", workdir=workdir)
    assert result.returncode == 1
    assert "qa: checksum differs" in result.stderr


def test_check_of_a_day_never_produced_exits_1(workdir: Path) -> None:
    result = _smprod("product", "check", "2024-06-02", workdir=workdir)
    assert result.returncode == 1
    assert "missing:" in result.stderr
