"""Degraded inputs degrade the product, not the schedule; a changed input is produced again.

On a small synthetic archive in the real formats (its IMERG: Final only, except the last three
days) with a real PostgreSQL ledger, without Prefect: ingest, then produce with a small forest.

- an unreadable IMERG Final with no other run of its day: D, D+1 and D+2 are still produced, the
  precipitation filled and flagged (before: all three failed, "predictors ['precip_3d'] have no
  valid value");
- an unreadable or empty Final with a Late run of the same day: the Late run is used, nothing filled;
- an all-fill SMAP granule: the day fails naming the day, the coverage and the setting, or is
  published with a warning when ``low_smap_coverage = "publish"``;
- a changed ``static/elevation.tif``: re-ingested, a new input key naming ``elevation``, produced
  again (before: "skipped", the old product kept); a rerun with nothing changed keeps the key
  and the bytes.

Each test works on its own hard-linked copy of the archive: a file is changed by replacing it
(unlink, write), never in place, so the shared original stays intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import types
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from smprod import db
from smprod.errors import MissingInputError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import PRECIP_FILLED, PRECIP_FILLED_3D, PRECIP_FILLED_DAY, InputStore
from smprod.inputs.ingest import ingest_day
from smprod.inputs.sources import ArchiveSource
from smprod.layout import WorkLayout
from smprod.product.produce import ProductSettings, input_key, key_changes, produce_day
from smprod.product.provenance import ModelInfo
from smprod.science.features import PREDICTORS, fine_features
from smprod.science.models import make_model
from smprod.synthetic.archive import write_archive
from tests.archive_edits import all_fill_smap, replace_file

pytestmark = pytest.mark.integration

BBOX = (-98.0, 35.0, -96.8, 35.7)  # 3 x 4 cells of 36 km
REGION = region_from_bbox(BBOX, 36)
START = date(2024, 6, 1)
NDAYS = 12  # IMERG: Final up to day 9, Late + Final on day 10, Early + Late on 11, Early on 12
DAYS = [START + timedelta(days=k) for k in range(NDAYS)]
INFO = ModelInfo("degraded", "1", "run-1", "rf")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("degraded") / "archive"
    write_archive(root, START, NDAYS, BBOX, 36, seed=11)
    return root


@pytest.fixture(scope="module")
def model(archive, tmp_path_factory, pg_server):
    """A forest fitted on 1 km rows of one ingested day (any target: these tests are about what
    is produced, not how well)."""
    url = _database(pg_server, "degraded_model")
    layout = WorkLayout(tmp_path_factory.mktemp("degraded_model"))
    ingest_day(
        DAYS[8], REGION, "SPL3SMP", ArchiveSource(_copy(archive, layout.root)), layout, db.make_engine(url)
    )
    frame, _ = fine_features(DAYS[8], REGION, InputStore(layout))
    rows = frame.dropna().iloc[::20]
    target = (0.5 * rows["sm_lag3"] + 0.001 * rows["precip_3d"]).to_numpy()
    return make_model("rf", PREDICTORS).fit(rows, target)


def _database(pg_server, name: str) -> str:
    import uuid

    name = f"{name}_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    url = db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))
    db.upgrade(url)
    return url


def _copy(archive: Path, where: Path) -> Path:
    copy = where / "archive"
    shutil.copytree(archive, copy, copy_function=os.link)
    return copy


@pytest.fixture
def site(archive, tmp_path, database_url):
    """A fresh work directory, ledger and archive copy; ``ingest(day)`` ingests from the copy."""
    copy = _copy(archive, tmp_path)
    layout = WorkLayout(tmp_path / "work")
    engine = db.make_engine(database_url)

    def ingest(day, force=False):
        return ingest_day(day, REGION, "SPL3SMP", ArchiveSource(copy), layout, engine, force=force)

    return types.SimpleNamespace(archive=copy, layout=layout, ingest=ingest)


def _imerg(archive: Path, day: date, prefix: str = "3B-DAY") -> Path:
    [path] = archive.rglob(f"{prefix}.MS.MRG.3IMERG.{day:%Y%m%d}-*.nc4")
    return path


def _provenance(layout: WorkLayout, day: date) -> dict:
    return json.loads(layout.product_files(day).provenance.read_text())


def test_a_day_without_any_readable_imerg_run_is_filled_and_its_three_days_are_produced(site, model):
    bad = DAYS[6]  # its sm_lag7 (D-6) is in the archive
    final = _imerg(site.archive, bad)
    replace_file(final, final.read_bytes()[:1000])  # truncated: the only run of that day
    reports = {day: site.ingest(day) for day in DAYS[6:10]}
    assert final.name in reports[bad].quarantined
    assert any(
        m.startswith(f"precip: no valid IMERG granule for {bad}: filled") for m in reports[bad].missing
    )
    expected_bits = {DAYS[6]: PRECIP_FILLED_DAY | PRECIP_FILLED_3D, DAYS[7]: PRECIP_FILLED_3D}
    expected_bits[DAYS[8]], expected_bits[DAYS[9]] = PRECIP_FILLED_3D, 0
    for day, bits in expected_bits.items():
        with xr.open_dataset(reports[day].fine) as fine, xr.open_dataset(reports[day].coarse) as coarse:
            assert (fine[PRECIP_FILLED].values == bits).all(), day
            assert np.isfinite(fine["precip"].values).all() and np.isfinite(fine["precip_3d"].values).all()
            # the coarse file keeps what was observed: training never learns a filled value
            assert np.isnan(coarse["precip_3d"].values).all() == bool(bits)

    for day in DAYS[6:10]:
        produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP")
        record = _provenance(site.layout, day)
        filled = record["qa_fractions"]["precip_filled"]
        assert filled == (1.0 if expected_bits[day] else 0.0), day
        warnings = record["parameters"]["warnings"]
        assert bool(warnings) == bool(expected_bits[day]) and all(f"{bad}: filled" in w for w in warnings)
    with rasterio.open(site.layout.product_files(DAYS[7]).qa) as src:
        assert "precip_filled" in src.tags(1)["flag_meanings"]
        assert (src.read(1) & 64).all()


def test_an_unreadable_or_empty_final_falls_back_to_the_late_run_of_its_day(site, model):
    day = DAYS[9]  # the archive has Final and Late of this day
    final = _imerg(site.archive, day)
    replace_file(final, final.read_bytes()[:1000])
    reports = [site.ingest(d) for d in DAYS[9:12]]
    assert final.name in reports[0].quarantined
    late = _imerg(site.archive, day, "3B-DAY-L").name
    for report in reports:  # D, D+1 and D+2 each take the Late run of D
        assert late in report.inputs["GPM_3IMERGDL"] and report.precip_run in ("Late", "Early")
        with xr.open_dataset(report.fine) as fine:
            assert not fine[PRECIP_FILLED].values.any()
    produce_day(DAYS[9], REGION, site.layout, model, INFO, "SPL3SMP")
    assert _provenance(site.layout, DAYS[9])["qa_fractions"]["precip_filled"] == 0.0


def test_a_readable_imerg_run_without_values_over_the_region_is_passed_over(site):
    from smprod.synthetic.formats import write_imerg_daily

    day = DAYS[9]
    final = _imerg(site.archive, day)
    final.unlink()
    write_imerg_daily(final, np.full((1800, 3600), np.nan, np.float32), day, "Final")  # all fill
    report = site.ingest(day)
    assert final.name not in report.quarantined and final.exists()  # another region may need it
    assert report.inputs["GPM_3IMERGDL"] == [_imerg(site.archive, day, "3B-DAY-L").name]
    assert report.precip_run == "Late"


def test_an_all_fill_smap_day_fails_clearly_or_is_published_with_a_warning(site, model):
    day = DAYS[8]
    all_fill_smap(site.archive, day)
    report = site.ingest(day)
    with xr.open_dataset(report.coarse) as coarse:
        assert not np.isfinite(coarse["sm"].values).any()
    with pytest.raises(MissingInputError) as raised:
        produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP")
    assert str(raised.value).startswith(
        f"{day}: SPL3SMP has a valid retrieval in 0 of the region's 12 coarse cells (0.0 %), below "
        "min_smap_coverage = 0.1: not produced"
    )
    assert not site.layout.product_files(day).provenance.exists()

    produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP", low_smap_coverage="publish")
    record = _provenance(site.layout, day)
    assert record["qa_fractions"]["coarse_missing"] == 1.0
    [warning] = record["parameters"]["warnings"]
    assert "0 of the region's 12 coarse cells" in warning and "published anyway" in warning


def _digests(layout: WorkLayout, day: date) -> dict[str, str]:
    files = layout.product_files(day)
    paths = {**files.cogs(), "provenance": files.provenance}
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def test_a_changed_static_layer_is_produced_again_and_an_unchanged_rerun_keeps_key_and_bytes(site, model):
    day = DAYS[8]
    settings = ProductSettings("SPL3SMP")
    site.ingest(day)
    store = InputStore(site.layout)
    key = input_key(store, day, REGION, settings)
    produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP")
    first = _digests(site.layout, day)

    assert site.ingest(day).reused  # nothing changed: the same files, the same key, the same bytes
    assert input_key(InputStore(site.layout), day, REGION, settings) == key
    produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP")
    assert _digests(site.layout, day) == first

    elevation = site.archive / "static" / "elevation.tif"
    with rasterio.open(elevation) as src:
        profile, values = src.profile, src.read(1)
    elevation.unlink()
    with rasterio.open(elevation, "w", **profile) as dst:
        dst.write(np.where(values == profile["nodata"], values, values + 500.0), 1)  # +500 m
    assert not site.ingest(day).reused
    changed = input_key(InputStore(site.layout), day, REGION, settings)
    assert changed.value != key.value
    [why] = key_changes(site.layout.product_files(day), changed, INFO)
    assert why.startswith("day inputs: ") and "elevation" in why
    produce_day(day, REGION, site.layout, model, INFO, "SPL3SMP")
    assert _provenance(site.layout, day)["parameters"]["input_key"] == changed.value
    assert _digests(site.layout, day)["provenance"] != first["provenance"]
