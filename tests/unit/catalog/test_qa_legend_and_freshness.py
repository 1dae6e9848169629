"""What a generic STAC client reads from an item besides the data: the QA legend (classification
extension, from the one definition of the bits) and when the day and its inputs were made."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from catalog.publish import publish_day
from catalog.validate import validate_catalog
from smprod.layout import PRODUCT_ID, WorkLayout
from smprod.qa import QA_MEANINGS, flag_names
from tests.catalog_days import tiny_region, write_day

DAY = date(2024, 6, 1)
REGION = tiny_region()
CLASSIFICATION = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"


def _item_path(layout: WorkLayout) -> Path:
    return layout.catalog / PRODUCT_ID / f"{PRODUCT_ID}-{DAY:%Y%m%d}" / f"{PRODUCT_ID}-{DAY:%Y%m%d}.json"


def _publish(layout: WorkLayout, written: datetime | None = None, **kw: str) -> dict:
    files = write_day(layout.root, DAY, REGION, **kw)
    if written is not None:
        os.utime(files.provenance, (written.timestamp(), written.timestamp()))
    return json.loads(publish_day(layout, REGION, DAY).read_text())


def _decode(bitfields: list[dict], value: int) -> tuple[str, ...]:
    """What a client does with ``classification:bitfields``: each field's class for the value."""
    names = []
    for field in bitfields:
        bits = (value >> field["offset"]) & ((1 << field["length"]) - 1)
        [cls] = [c for c in field["classes"] if c["value"] == bits]
        if bits:
            names.append(cls["name"])
    return tuple(names)


def test_the_qa_asset_decodes_every_written_value_as_the_qa_bits_do(tmp_path: Path) -> None:
    import pystac
    from pystac.extensions.classification import ClassificationExtension

    layout = WorkLayout(tmp_path)
    item = _publish(layout)
    bitfields = item["assets"]["qa"]["classification:bitfields"]
    assert CLASSIFICATION in item["stac_extensions"]
    with rasterio.open(layout.product_files(DAY).qa) as src:
        values = np.unique(src.read(1))
        tags = src.tags(1)
    assert len(values) > 1  # the day has flagged and unflagged pixels
    for value in values[values != 255]:
        assert _decode(bitfields, int(value)) == flag_names(int(value))
    for field in bitfields:  # the COG's own CF metadata names the same bits
        assert tags[f"bit_{field['offset']}"] == field["name"]
        assert field["description"] == QA_MEANINGS[1 << field["offset"]]
    read = ClassificationExtension.ext(pystac.Item.from_file(str(_item_path(layout))).assets["qa"])
    assert [(b.offset, b.name) for b in read.bitfields or []] == [(f["offset"], f["name"]) for f in bitfields]
    collection = json.loads((layout.catalog / PRODUCT_ID / "collection.json").read_text())
    assert collection["item_assets"]["qa"]["classification:bitfields"] == bitfields
    assert CLASSIFICATION in collection["stac_extensions"]
    assert validate_catalog(layout.catalog).problems == ()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda qa: qa["classification:bitfields"][0]["classes"][1].pop("name"), "'name' is a required"),
        (lambda qa: qa["classification:bitfields"][2].update(offset=-1), "less than the minimum"),
        (lambda qa: qa["classification:bitfields"][3]["classes"][0].update(name="not ok"), "does not match"),
    ],
)
def test_a_broken_qa_legend_is_reported_by_the_classification_schema(tmp_path: Path, change, words) -> None:  # type: ignore[no-untyped-def]
    layout = WorkLayout(tmp_path)
    _publish(layout)
    path = _item_path(layout)
    item = json.loads(path.read_text())
    change(item["assets"]["qa"])
    path.write_text(json.dumps(item))
    problems = validate_catalog(layout.catalog).problems
    assert problems and all(p.schema == CLASSIFICATION for p in problems), problems
    assert any(words in p.message for p in problems), problems


def test_the_item_states_when_it_was_produced_and_its_latency(tmp_path: Path) -> None:
    layout = WorkLayout(tmp_path)
    written = datetime(2024, 6, 2, 6, 15, tzinfo=UTC)
    props = _publish(layout, written)["properties"]
    assert props["created"] == props["updated"] == "2024-06-02T06:15:00Z"
    smap = props["smprod:input_times"]["SMAP"]  # the fixture day's one SMAP granule
    assert (smap["days"], smap["start"], smap["end"]) == (
        ["2024-06-01"],
        "2024-06-01T00:00:00Z",
        "2024-06-01T23:59:59Z",
    )
    assert props["smprod:latency_hours"] == 6.25  # 06:15:00 minus 23:59:59 the day before
    record = json.loads(layout.product_files(DAY).provenance.read_text())
    assert props["smprod:input_times"] == record["input_times"]


def test_an_unchanged_day_keeps_its_times_a_reprocessed_one_gets_new_ones(tmp_path: Path) -> None:
    layout = WorkLayout(tmp_path)
    _publish(layout, datetime(2024, 6, 2, 6, 0, tzinfo=UTC))
    first = _item_path(layout).read_bytes()
    _publish(layout, datetime(2024, 6, 3, 6, 0, tzinfo=UTC))  # the same bytes written a day later
    assert _item_path(layout).read_bytes() == first
    later = _publish(layout, datetime(2024, 9, 20, 6, 0, tzinfo=UTC), precip_run="Final")["properties"]
    assert later["smprod:revision"] == 2 and later["updated"] == "2024-09-20T06:00:00Z"
    assert later["created"] == "2024-06-02T06:00:00Z"
    assert later["smprod:latency_hours"] == 110 * 24 + 6  # 2024-06-01 23:59:59 to 09-20 06:00 (+1 s)
