"""SIF in ingest (the ``use_sif`` setting): which composite a day takes, the day files with and
without the setting, and SIF added to days ingested without it."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smprod import db
from smprod.grids.regrid import block_mean
from smprod.inputs import ledger
from smprod.inputs.dayfiles import SIF, InputStore, read_record
from smprod.inputs.granules import SIF_PRODUCT, parse_name
from smprod.inputs.ingest import add_sif, day_queries, ingest_day, sif_composites
from smprod.inputs.sources import ArchiveSource
from smprod.inputs.sources.base import GranuleRef
from smprod.layout import WorkLayout


def _refs(*names: str) -> list[GranuleRef]:
    return [GranuleRef(parse_name(name)) for name in names]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 4, 29), "GOSIF_2024113.tif"),  # DOY 120: the last day of the composite of 113
        (date(2024, 5, 1), "GOSIF_2024121.tif"),  # DOY 122: inside the composite of DOY 121
        (date(2024, 5, 8), "GOSIF_2024129.tif"),  # DOY 129: a composite's first day
        (date(2024, 5, 20), None),  # DOY 141: the composite of 137 is missing, 129 is 12 days back
    ],
)
def test_a_day_takes_the_latest_composite_starting_within_eight_days(day, expected):
    refs = _refs("GOSIF_2024113.tif", "GOSIF_2024121.tif", "GOSIF_2024129.tif", "GOSIF_2024.M05.tif")
    assert [ref.name for ref in sif_composites(refs, day)] == ([expected] if expected else [])


def test_sif_is_queried_only_with_the_setting(small_world):
    day = small_world.days[10]
    without = day_queries(day, small_world.region, "SPL3SMP")
    with_sif = day_queries(day, small_world.region, "SPL3SMP", use_sif=True)
    assert all(SIF_PRODUCT not in q.products for q in without)
    assert with_sif[:-1] == without and with_sif[-1].products == (SIF_PRODUCT,)


def test_without_the_setting_the_day_files_and_the_ledger_have_no_sif(small_world):
    assert any((small_world.archive / "sif").glob("GOSIF_*.tif"))  # offered, but not asked for
    store = InputStore(small_world.layout)
    for scale in ("fine", "coarse"):
        assert SIF not in store.open(small_world.days[10], scale)
        assert SIF_PRODUCT not in store.record(small_world.days[10], scale).inputs
    rows = ledger.granule_rows(db.make_engine(small_world.database_url))
    assert rows and not [r for r in rows if r["product"] == SIF_PRODUCT]


@pytest.fixture(scope="module")
def sif_days(small_world, tmp_path_factory):
    """Two days of the small world: one ingested with ``use_sif``, one copied from the world's
    inputs (ingested without) and given its SIF by ``add_sif``; both into a fresh layout."""
    layout = WorkLayout(tmp_path_factory.mktemp("sif_work"))
    engine = db.make_engine(small_world.database_url)
    source = ArchiveSource(small_world.archive)
    ingested, added = small_world.days[12], small_world.days[13]
    ingest_day(ingested, small_world.region, "SPL3SMP", source, layout, engine, use_sif=True)
    shutil.copytree(small_world.layout.inputs_dir(added), layout.inputs_dir(added))
    reference = WorkLayout(tmp_path_factory.mktemp("sif_added"))
    shutil.copytree(small_world.layout.inputs_dir(ingested), reference.inputs_dir(ingested))
    add_sif(added, small_world.region, source, layout, engine)
    add_sif(ingested, small_world.region, source, reference, engine)
    return layout, reference, ingested, added


def test_with_the_setting_sif_is_a_fine_variable_and_its_block_mean_a_coarse_one(small_world, sif_days):
    layout, _, day, _ = sif_days
    store = InputStore(layout)
    fine, coarse = store.open(day, "fine"), store.open(day, "coarse")
    sif = fine[SIF].values
    assert np.isfinite(sif).all() and 0.0 < np.nanmean(sif) < 2.0
    assert fine[SIF].attrs["units"] == "W m-2 um-1 sr-1"
    assert_allclose(coarse[SIF].values, block_mean(sif, small_world.region.factor), rtol=1e-6)
    expected = f"GOSIF_{day - timedelta(days=(day.timetuple().tm_yday - 1) % 8):%Y%j}.tif"
    assert read_record(layout.inputs_dir(day) / "fine.nc").inputs[SIF_PRODUCT] == [expected]


def test_sif_added_later_equals_sif_ingested_and_leaves_every_other_variable(small_world, sif_days):
    layout, reference, ingested, added = sif_days
    with_sif, later = InputStore(layout), InputStore(reference)
    assert_array_equal(later.open(ingested, "fine")[SIF].values, with_sif.open(ingested, "fine")[SIF].values)
    original = InputStore(small_world.layout)
    for scale in ("fine", "coarse"):
        before, after = original.record(added, scale), with_sif.record(added, scale)
        assert {k: v for k, v in after.digests.items() if k != SIF} == before.digests
        assert after.fingerprint == before.fingerprint  # a full ingest with the setting redoes the day
        assert after.inputs[SIF_PRODUCT] and json.dumps(before.missing) == json.dumps(after.missing)
    assert_array_equal(
        with_sif.open(added, "fine")["landcover"].values, original.open(added, "fine")["landcover"].values
    )


def test_adding_sif_to_a_day_not_ingested_is_refused(small_world, tmp_path):
    from smprod.errors import MissingInputError

    with pytest.raises(MissingInputError, match="ingest the day first"):
        add_sif(
            small_world.days[3],
            small_world.region,
            ArchiveSource(small_world.archive),
            WorkLayout(tmp_path),
            db.make_engine(small_world.database_url),
        )
