"""Which day the daily run produces when none is given: the newest SMAP day in the source."""

from __future__ import annotations

from datetime import date

import pytest

from smprod.errors import MissingInputError
from smprod.inputs.sources import ArchiveSource
from smprod.product.produce import latest_coarse_day

BBOX = (-100.0, 34.0, -96.0, 37.0)


@pytest.fixture
def archive(tmp_path):
    for day in ("20240530", "20240601"):  # found by name only: content does not matter here
        (tmp_path / "smap").mkdir(exist_ok=True)
        (tmp_path / "smap" / f"SMAP_L3_SM_P_{day}_R19240_001.h5").write_bytes(b"")
    return ArchiveSource(tmp_path)


def test_the_newest_smap_day_up_to_today(archive):
    assert latest_coarse_day(archive, "SPL3SMP", BBOX, date(2024, 6, 10)) == date(2024, 6, 1)
    assert latest_coarse_day(archive, "SPL3SMP", BBOX, date(2024, 5, 31)) == date(2024, 5, 30)


def test_a_stale_archive_names_its_newest_day(archive):
    with pytest.raises(MissingInputError, match=r"2024-07-02 and 2024-08-01; the newest is for 2024-06-01"):
        latest_coarse_day(archive, "SPL3SMP", BBOX, date(2024, 8, 1))
    with pytest.raises(MissingInputError, match=r"granule between 2024-04-01 and 2024-05-01$"):
        latest_coarse_day(archive, "SPL3SMP", BBOX, date(2024, 5, 1))
