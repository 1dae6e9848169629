"""A work directory records its region and coarse product on first use and refuses others."""

from __future__ import annotations

import json
import threading

import pytest

from smprod.errors import ConfigError
from smprod.grids.ease import region_from_bbox
from smprod.layout import WorkLayout
from smprod.workdir import (
    WorkRegion,
    check_work_region,
    claim_work_region,
    read_work_region,
    reading_region,
)

BBOX = (-100.0, 34.0, -98.0, 35.5)
OTHER = (-96.0, 34.0, -94.0, 35.5)


@pytest.fixture
def layout(tmp_path) -> WorkLayout:
    return WorkLayout(tmp_path / "work")


def test_first_use_records_the_snapped_region(layout):
    region = region_from_bbox(BBOX, 36)
    claimed = claim_work_region(layout, region, "SPL3SMP")
    data = json.loads(layout.region_file.read_text())
    assert data["coarse_product"] == "SPL3SMP"
    assert data["coarse_grid"] == {
        "km": 36,
        "row0": region.coarse.row0,
        "col0": region.coarse.col0,
        "nrows": region.coarse.nrows,
        "ncols": region.coarse.ncols,
    }
    # the bbox recorded is the snapped one: it contains the bbox as given
    minlon, minlat, maxlon, maxlat = data["bbox"]
    assert minlon <= BBOX[0] and minlat <= BBOX[1] and maxlon >= BBOX[2] and maxlat >= BBOX[3]
    assert read_work_region(layout) == claimed
    assert not list(layout.root.glob(".region.json.*"))  # no temporary left behind


def test_a_bbox_snapping_to_the_same_cells_is_the_same_region(layout):
    claim_work_region(layout, region_from_bbox(BBOX, 36), "SPL3SMP")
    before = layout.region_file.read_bytes()
    nudged = (BBOX[0] + 0.01, BBOX[1] + 0.01, BBOX[2] - 0.01, BBOX[3] - 0.01)
    claim_work_region(layout, region_from_bbox(nudged, 36), "SPL3SMP")
    assert layout.region_file.read_bytes() == before


@pytest.mark.parametrize(("bbox", "product", "km"), [(OTHER, "SPL3SMP", 36), (BBOX, "SPL3SMP_E", 9)])
def test_another_region_or_product_is_refused_naming_both(layout, bbox, product, km):
    claim_work_region(layout, region_from_bbox(BBOX, 36), "SPL3SMP")
    before = layout.region_file.read_bytes()
    with pytest.raises(ConfigError) as err:
        claim_work_region(layout, region_from_bbox(bbox, km), product)
    message = str(err.value)
    assert f"work directory {layout.root} is for the region bbox -100.0" in message
    assert f"({product}, " in message and "(SPL3SMP, " in message
    assert "Use another --workdir" in message and "nothing was changed" in message
    assert layout.region_file.read_bytes() == before


def test_check_does_not_record(layout):
    assert check_work_region(layout, region_from_bbox(BBOX, 36), "SPL3SMP") is None
    assert not layout.region_file.exists()


def test_an_unreadable_record_is_a_config_error_naming_it(layout):
    layout.root.mkdir(parents=True)
    layout.region_file.write_text("{not json")
    with pytest.raises(ConfigError, match=r"region\.json cannot be read"):
        claim_work_region(layout, region_from_bbox(BBOX, 36), "SPL3SMP")


def test_racing_first_uses_agree_on_one_record(layout):
    regions = [region_from_bbox(BBOX, 36), region_from_bbox(OTHER, 36)]
    outcomes: list[str] = []

    def claim(region) -> None:
        try:
            claim_work_region(layout, region, "SPL3SMP")
            outcomes.append("claimed")
        except ConfigError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(region,)) for region in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "refused"]


def test_reading_region_without_a_bbox_is_the_recorded_one(layout):
    recorded = claim_work_region(layout, region_from_bbox(BBOX, 36), "SPL3SMP")
    default = region_from_bbox((-100.0, 34.0, -96.0, 37.0), 36)  # the settings' default bbox
    region = reading_region(layout, default, "SPL3SMP", bbox_given=False)
    assert region.coarse == recorded.coarse and region.fine == recorded.coarse.refine(1)
    with pytest.raises(ConfigError, match="is for the region"):
        reading_region(layout, default, "SPL3SMP", bbox_given=True)


def test_reading_region_before_first_use_is_the_configured_one(layout):
    configured = region_from_bbox(BBOX, 36)
    assert reading_region(layout, configured, "SPL3SMP", bbox_given=False) is configured
    assert not layout.region_file.exists()


def test_record_round_trips_through_json():
    record = WorkRegion.of(region_from_bbox(BBOX, 9), "SPL3SMP_E")
    assert WorkRegion.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.describe().endswith(
        f"(SPL3SMP_E, {record.coarse.nrows} x {record.coarse.ncols} cells of 9 km)"
    )
