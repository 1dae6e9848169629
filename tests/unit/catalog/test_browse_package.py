"""A pip-installed smprod serves the whole browse page: every file under ``catalog/browse/``
(the page and the vendored Leaflet with its LICENSE and icons) is package data in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_browse_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["catalog"]
    packaged = {path for pattern in patterns for path in (ROOT / "catalog").glob(pattern) if path.is_file()}
    files = {path for path in (ROOT / "catalog" / "browse").rglob("*") if path.is_file()}
    assert files, "no browse page"
    assert (ROOT / "catalog" / "browse" / "vendor" / "leaflet" / "LICENSE") in files
    assert sorted(map(str, files - packaged)) == []
