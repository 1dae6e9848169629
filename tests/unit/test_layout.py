"""Paths under the work directory: which product days are published."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from smprod.layout import WorkLayout


def test_product_days_are_the_days_with_a_soil_moisture_cog_in_order(tmp_path: Path) -> None:
    layout = WorkLayout(tmp_path)
    for day in (date(2024, 6, 3), date(2024, 5, 30)):
        files = layout.product_files(day)
        files.soil_moisture.parent.mkdir(parents=True)
        files.soil_moisture.write_bytes(b"")
    layout.products_dir(date(2024, 6, 4)).mkdir(parents=True)  # an interrupted day: no COG
    (tmp_path / "products" / "2024" / "13" / "01").mkdir(parents=True)  # not a date: ignored
    assert layout.product_days() == [date(2024, 5, 30), date(2024, 6, 3)]
    assert WorkLayout(tmp_path / "empty").product_days() == []


def test_the_assets_of_a_day_are_its_cogs_then_thumbnail_and_provenance(tmp_path: Path) -> None:
    files = WorkLayout(tmp_path).product_files(date(2024, 6, 3))
    assert list(files.assets()) == ["soil_moisture", "qa", "uncertainty", "thumbnail", "provenance"]
    assert files.assets()["thumbnail"] == files.thumbnail
    assert {k: files.assets()[k] for k in files.cogs()} == files.cogs()
