"""A reanalysis day is told from a near-real-time one (issue 17, item 3): its provenance, its STAC
item's ``smprod:training_mode`` and window, the collection's summary and the revision reasons
when a day is made again in the other mode."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from catalog.items import training_properties
from catalog.publish import publish_day
from catalog.validate import validate_catalog
from smprod.layout import PRODUCT_ID, WorkLayout
from smprod.product.provenance import training_of
from tests.catalog_days import tiny_region, write_day

DAY = date(2024, 6, 1)
REGION = tiny_region()
WINDOW = (date(2024, 5, 4), date(2024, 7, 2))


@pytest.fixture
def layout(tmp_path: Path) -> WorkLayout:
    return WorkLayout(tmp_path)


def _publish(layout: WorkLayout, day: date = DAY, **kw) -> dict:  # type: ignore[no-untyped-def]
    files = write_day(layout.root, day, REGION, **kw)
    return {
        "provenance": json.loads(files.provenance.read_text()),
        "item": json.loads(publish_day(layout, REGION, day).read_text()),
    }


def test_a_reanalysis_day_says_so_in_provenance_and_item(layout: WorkLayout) -> None:
    made = _publish(layout, model_version="7", training_mode="reanalysis", window=WINDOW)
    record = made["provenance"]
    assert record["parameters"]["training_mode"] == "reanalysis"
    assert record["model"]["training_mode"] == "reanalysis"
    assert record["model"]["window"] == {"start": "2024-05-04", "end": "2024-07-02"}
    assert record["model"]["version"] == "7"
    props = made["item"]["properties"]
    assert props["smprod:training_mode"] == "reanalysis"
    assert props["smprod:training_window"] == ["2024-05-04", "2024-07-02"]
    assert "reanalysis" in props["processing:lineage"]
    assert validate_catalog(layout.catalog).ok


def test_a_near_real_time_day_says_so_too(layout: WorkLayout) -> None:
    made = _publish(layout, window=(date(2024, 4, 2), date(2024, 5, 31)))
    assert made["provenance"]["parameters"]["training_mode"] == "near-real-time"
    props = made["item"]["properties"]
    assert props["smprod:training_mode"] == "near-real-time"
    assert props["smprod:training_window"] == ["2024-04-02", "2024-05-31"]  # ends before the day


def test_provenance_from_before_the_mode_is_near_real_time_without_a_window() -> None:
    old = {"model": {"name": "m", "version": "3"}, "parameters": {"input_key": "k"}}
    assert training_of(old) == ("near-real-time", None)
    assert training_properties(old) == {"smprod:training_mode": "near-real-time"}


def test_collection_summarises_the_modes_and_a_mode_change_is_a_revision_reason(layout: WorkLayout) -> None:
    _publish(layout, date(2024, 6, 2))  # near-real-time
    _publish(layout, model_version="1")
    again = _publish(layout, model_version="2", training_mode="reanalysis", window=WINDOW)["item"]
    props = again["properties"]
    assert props["smprod:revision"] == 2
    assert props["smprod:reprocessing"] == ["model 1 -> 2", "training near-real-time -> reanalysis"]
    collection = json.loads((layout.catalog / PRODUCT_ID / "collection.json").read_text())
    assert collection["summaries"]["smprod:training_mode"] == ["near-real-time", "reanalysis"]
