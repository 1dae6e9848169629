"""Official granule names and the selection rules (which granule of a slot is used)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from smprod.grids.ease import region_from_bbox
from smprod.inputs.granules import modis_tiles, parse_granule_name, parse_name, rank_candidates, select_best


def test_smap_name_release_and_counter():
    g = parse_granule_name("SMAP_L3_SM_P_20150410_R19240_001.h5")
    assert (g.product, g.day, g.family, g.release, g.counter) == (
        "SPL3SMP",
        date(2015, 4, 10),
        "SMAP",
        "R19240",
        1,
    )
    assert g.release_id == "R19240_001"
    e = parse_granule_name("SMAP_L3_SM_P_E_20240701_R19240_002.h5")
    assert (e.product, e.release_id) == ("SPL3SMP_E", "R19240_002")
    assert e.slot != g.slot  # 9 km and 36 km never compete


@pytest.mark.parametrize(
    ("prefix", "run", "product"),
    [
        ("3B-DAY", "Final", "GPM_3IMERGDF"),
        ("3B-DAY-L", "Late", "GPM_3IMERGDL"),
        ("3B-DAY-E", "Early", "GPM_3IMERGDE"),
    ],
)
def test_imerg_runs_from_prefix(prefix, run, product):
    g = parse_granule_name(f"{prefix}.MS.MRG.3IMERG.20240601-S000000-E235959.V07B.nc4")
    assert (g.run, g.product, g.version, g.day) == (run, product, "V07B", date(2024, 6, 1))
    assert g.release_id == f"{run} V07B"


def test_modis_names_doy_composite_start_and_year():
    lst = parse_granule_name("MOD11A1.A2021227.h11v05.061.2021228105320.hdf")
    assert (lst.product, lst.day, lst.tile, lst.collection) == ("MOD11A1", date(2021, 8, 15), "h11v05", "061")
    assert lst.production == datetime(2021, 8, 16, 10, 53, 20)
    assert lst.platform == "Terra"
    assert parse_granule_name("MYD11A1.A2021227.h11v05.061.2021228105320.hdf").platform == "Aqua"
    vi = parse_granule_name("MOD13A2.A2021225.h11v06.061.2021320163717.hdf")
    assert vi.day == date(2021, 8, 13)  # DOY 225 = composite start
    assert (
        vi.covers(date(2021, 8, 28)) and not vi.covers(date(2021, 8, 29)) and not vi.covers(date(2021, 8, 12))
    )
    lc = parse_granule_name("MCD12Q1.A2020001.h10v05.061.2022169161028.hdf")
    assert lc.day == date(2020, 1, 1) and lc.covers(date(2020, 12, 31)) and not lc.covers(date(2021, 1, 1))


@pytest.mark.parametrize(
    "name",
    [
        "SMAP_L3_SM_P_20150410_R19240.h5",
        "SMAP_L3_SM_P_20151310_R19240_001.h5",  # month 13
        "MOD11A1.A2021400.h11v05.061.2021228105320.hdf",  # day of year 400
        "MOD09GA.A2021227.h11v05.061.2021228105320.hdf",  # not a product smprod reads
        "3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5",  # half-hourly, not daily
        "truth_20240601.tif",
        "elevation.tif",
    ],
)
def test_other_names_are_not_granules(name):
    assert parse_granule_name(name) is None


@pytest.mark.parametrize(
    ("name", "product", "slot"),
    [
        # the real half-hourly sample in ../shared/realdata/IMERG
        (
            "3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5",
            "GPM_3IMERGHH",
            ("IMERG-HHR", "000000", date(2000, 6, 1)),
        ),
        (
            "3B-HHR-E.MS.MRG.3IMERG.20240601-S233000-E235959.1410.V07B.HDF5",
            "GPM_3IMERGHHE",
            ("IMERG-HHR", "233000", date(2024, 6, 1)),
        ),
        (
            "MOD09GA.A2021227.h11v05.061.2021228105320.hdf",
            "MOD09GA",
            ("MOD09GA", "h11v05", date(2021, 8, 15)),
        ),
        (
            "MCD15A2H.A2021225.h11v05.061.2021234034150.hdf",
            "MCD15A2H",
            ("MCD15A2H", "h11v05", date(2021, 8, 13)),
        ),
    ],
)
def test_readable_names_that_are_not_ingested(name, product, slot):
    parsed = parse_name(name)
    assert (parsed.product, parsed.slot) == (product, slot)
    assert parse_granule_name(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "SMAP_L3_SM_P_20150410_R19240_001.h5",
        "SMAP_L3_SM_P_20150331_R18290_002.h5",  # the real SPL3SMP v008 of ../shared/realdata
        "3B-DAY-L.MS.MRG.3IMERG.20240601-S000000-E235959.V07B.nc4",
        "3B-DAY.MS.MRG.3IMERG.20240601-S000000-E235959.0000.V06B.nc4",
        "MOD11A1.A2021227.h11v05.061.2021228105320.hdf",  # real samples
        "MOD13A2.A2021225.h11v06.061.2021320163717.hdf",
        "MCD43A3.A2017199.h15v07.006.2017208032853.hdf",  # collection 6
    ],
)
def test_ingested_names_parse_the_same_both_ways(name):
    assert parse_name(name) == parse_granule_name(name) is not None


def test_impossible_half_hour_is_not_a_name():
    assert parse_name("3B-HHR.MS.MRG.3IMERG.20000601-S250000-E252959.0000.V07A.HDF5") is None


def test_smap_newest_release_then_counter_wins():
    names = [
        "SMAP_L3_SM_P_20240601_R18290_002.h5",
        "SMAP_L3_SM_P_20240601_R19240_001.h5",
        "SMAP_L3_SM_P_20240601_R19240_002.h5",
        "SMAP_L3_SM_P_20240602_R18290_001.h5",
    ]
    best = select_best([parse_granule_name(n) for n in names])
    assert [g.name for g in best] == [
        "SMAP_L3_SM_P_20240601_R19240_002.h5",
        "SMAP_L3_SM_P_20240602_R18290_001.h5",
    ]


def test_imerg_final_over_late_over_early_then_newest_version():
    stem = ".MS.MRG.3IMERG.20240601-S000000-E235959."
    early, late, final_a, final_b = (
        parse_granule_name(n)
        for n in (
            f"3B-DAY-E{stem}V07B.nc4",
            f"3B-DAY-L{stem}V07B.nc4",
            f"3B-DAY{stem}V07A.nc4",
            f"3B-DAY{stem}V07B.nc4",
        )
    )
    ranked = rank_candidates([early, final_a, late, final_b])
    assert ranked[("IMERG", "", date(2024, 6, 1))] == [final_b, final_a, late, early]
    assert select_best([early, late]) == [late]


def test_modis_terra_and_aqua_both_kept_newest_production_wins():
    names = [
        "MOD11A1.A2024153.h10v05.061.2024154000000.hdf",
        "MOD11A1.A2024153.h10v05.061.2024160000000.hdf",  # reprocessed later: wins
        "MYD11A1.A2024153.h10v05.061.2024154000000.hdf",
        "MOD11A1.A2024153.h09v05.061.2024154000000.hdf",
    ]
    best = {g.name for g in select_best([parse_granule_name(n) for n in names])}
    assert best == {names[1], names[2], names[3]}


def test_rank_candidates_with_a_key_reaches_wrapped_names():
    wrapped = [
        (n, parse_granule_name(n))
        for n in ("SMAP_L3_SM_P_20240601_R19240_001.h5", "SMAP_L3_SM_P_20240601_R19240_003.h5")
    ]
    (group,) = rank_candidates(wrapped, key=lambda item: item[1]).values()
    assert [n for n, _ in group] == [
        "SMAP_L3_SM_P_20240601_R19240_003.h5",
        "SMAP_L3_SM_P_20240601_R19240_001.h5",
    ]
    with pytest.raises(TypeError, match="key="):
        rank_candidates(["not a name"])


def test_modis_tiles_of_regions():
    # Oklahoma: the design's demo region spans h09v05 and h10v05.
    assert modis_tiles(region_from_bbox((-100.0, 34.0, -96.0, 37.0))) == ("h09v05", "h10v05")
    # Wholly east of the h09/h10 boundary (lon -97.45 at 34.8 N, -98.27 at 35.5 N).
    assert modis_tiles(region_from_bbox((-96.5, 35.0, -96.3, 35.2))) == ("h10v05",)
    # Its snapped west edge (-97.84) crosses the slanted boundary.
    assert modis_tiles(region_from_bbox((-97.5, 35.0, -97.3, 35.2))) == ("h09v05", "h10v05")
    # h11v05 spans lat 30-40 N (y = R lat) and, at 35 N, lon -85.5..-73.3 (x = R lon cos(lat)).
    assert modis_tiles(region_from_bbox((-80.2, 35.0, -80.0, 35.2))) == ("h11v05",)
