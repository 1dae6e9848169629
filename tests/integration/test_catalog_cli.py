"""``smprod catalog validate`` run as a user runs it: a subprocess on a real published catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from catalog.publish import publish_day
from smprod.layout import WorkLayout
from tests.catalog_days import tiny_region, write_day

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _smprod(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    command = [sys.executable, "-m", "flows.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    layout = WorkLayout(tmp_path)
    region = tiny_region()
    for day in (date(2024, 6, 1), date(2024, 6, 2)):
        write_day(tmp_path, day, region)
        publish_day(layout, region, day)
    return tmp_path


def test_validate_a_valid_catalog_exits_0(workdir: Path) -> None:
    result = _smprod("catalog", "validate", "--workdir", str(workdir))  # default path <workdir>/catalog
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: 4 STAC object(s) under {workdir / 'catalog'}")


def test_validate_lists_every_invalid_object_and_exits_1(workdir: Path) -> None:
    items = sorted((workdir / "catalog").rglob("smprod-sm-1km-2024060*.json"))
    for path, field in zip(items, ("proj:code", "datetime"), strict=True):
        data = json.loads(path.read_text())
        data["properties"][field] = 6933
        path.write_text(json.dumps(data))
    result = _smprod("catalog", "validate", str(workdir / "catalog"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"{items[0]}: $.properties['proj:code']: 6933 is not of type") for line in lines
    )
    assert any(line.startswith(f"{items[1]}: $.properties.datetime: ") for line in lines), lines
    assert lines[-1].startswith("error: ") and "in 2 of 4 STAC object(s)" in lines[-1]


def test_validate_an_empty_directory_exits_1(tmp_path: Path) -> None:
    result = _smprod("catalog", "validate", str(tmp_path))
    assert result.returncode == 1
    assert "no STAC object under" in result.stderr


def test_publish_republishes_a_day_and_refuses_an_unproduced_one(workdir: Path) -> None:
    item = workdir / "catalog" / "smprod-sm-1km" / "smprod-sm-1km-20240602" / "smprod-sm-1km-20240602.json"
    item.unlink()
    options = ("--workdir", str(workdir), "--bbox=-97.5,35.1,-97.2,35.3")
    result = _smprod("catalog", "publish", "2024-06-02", *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"published: {item}"
    assert _smprod("catalog", "validate", "--workdir", str(workdir)).returncode == 0
    result = _smprod("catalog", "publish", "2024-06-03", *options)
    assert result.returncode == 1
    assert "2024-06-03 cannot be published: soil_moisture, qa" in result.stderr


def test_validate_checksums_names_a_changed_asset(workdir: Path) -> None:
    thumbnail = next((workdir / "products").rglob("*20240602_thumbnail.png"))
    thumbnail.write_bytes(thumbnail.read_bytes() + b"extra")
    assert _smprod("catalog", "validate", "--workdir", str(workdir)).returncode == 0  # structure is fine
    result = _smprod("catalog", "validate", "--checksums", "--workdir", str(workdir))
    assert result.returncode == 1
    assert "$.assets.thumbnail['file:size']" in result.stderr
    assert "$.assets.thumbnail['file:checksum']" in result.stderr
