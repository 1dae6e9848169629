"""ArchiveSource: granules found by official name anywhere below the root, filtered by query."""

from __future__ import annotations

from datetime import date

import pytest

from smprod.errors import MissingInputError
from smprod.inputs.sources import ArchiveSource, GranuleQuery

BBOX = (-100.0, 34.0, -96.0, 37.0)
FILES = [
    "a/SMAP_L3_SM_P_20240601_R19240_001.h5",
    "b/c/d/SMAP_L3_SM_P_20240601_R19240_002.h5",
    "SMAP_L3_SM_P_20240525_R19240_001.h5",
    "SMAP_L3_SM_P_E_20240601_R19240_001.h5",
    "modis/MOD11A1.A2024153.h10v05.061.2024154000000.hdf",
    "modis/MOD11A1.A2024153.h11v05.061.2024154000000.hdf",
    "modis/MOD13A2.A2024145.h10v05.061.2024162000000.hdf",  # 2024-05-24 .. 06-08
    "modis/MOD13A2.A2024161.h10v05.061.2024178000000.hdf",  # 2024-06-09 ..
    "imerg/3B-DAY-L.MS.MRG.3IMERG.20240601-S000000-E235959.V07B.nc4",
    "static/elevation.tif",
    "static/sand.tif",
    "truth/truth_20240601.tif",
    "notes.txt",
    "elevation.tif",  # not under static/: not a static layer
]


@pytest.fixture
def archive(tmp_path):
    for rel in FILES:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"0123456789")
    return tmp_path


def _names(refs):
    return [ref.name for ref in refs]


def test_found_anywhere_below_root_by_product_and_period(archive):
    source = ArchiveSource(archive)
    smap = source.find(GranuleQuery(("SPL3SMP",), date(2024, 6, 1), date(2024, 6, 1), BBOX))
    assert _names(smap) == ["SMAP_L3_SM_P_20240601_R19240_001.h5", "SMAP_L3_SM_P_20240601_R19240_002.h5"]
    assert smap[1].path == archive / FILES[1] and smap[1].size == 10 and smap[1].url is None
    lagged = source.find(GranuleQuery(("SPL3SMP", "SPL3SMP_E"), date(2024, 5, 24), date(2024, 6, 1), BBOX))
    assert len(lagged) == 4


def test_modis_tiles_and_composite_periods(archive):
    source = ArchiveSource(archive)
    query = GranuleQuery(("MOD11A1", "MOD13A2"), date(2024, 6, 1), date(2024, 6, 1), BBOX, tiles=("h10v05",))
    assert _names(source.find(query)) == [
        "MOD11A1.A2024153.h10v05.061.2024154000000.hdf",
        "MOD13A2.A2024145.h10v05.061.2024162000000.hdf",  # the composite that covers 06-01
    ]
    every_tile = GranuleQuery(("MOD11A1",), date(2024, 6, 1), date(2024, 6, 1), BBOX)
    assert len(source.find(every_tile)) == 2


def test_static_layers_and_refresh(archive):
    source = ArchiveSource(archive)
    assert source.static_files() == {
        "elevation": archive / "static/elevation.tif",
        "sand": archive / "static/sand.tif",
    }
    (archive / "static" / "clay.tif").write_bytes(b"")
    assert "clay" not in source.static_files()  # walked once ...
    source.refresh()
    assert "clay" in source.static_files()  # ... until asked to walk again


def test_fetch_returns_the_file_or_says_it_is_gone(archive):
    source = ArchiveSource(archive)
    (ref,) = source.find(GranuleQuery(("GPM_3IMERGDL",), date(2024, 6, 1), date(2024, 6, 1), BBOX))
    assert source.fetch(ref) == archive / FILES[8]
    ref.path.unlink()
    with pytest.raises(MissingInputError, match=r"3B-DAY-L.*not in the archive"):
        source.fetch(ref)


def test_find_many_lists_each_granule_once(archive):
    source = ArchiveSource(archive)
    q = GranuleQuery(("SPL3SMP",), date(2024, 6, 1), date(2024, 6, 1), BBOX)
    assert len(source.find_many([q, q])) == 2
