"""The 9 km path (SPL3SMP_E) end to end without Prefect: archive, ingest, train, produce, check."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest

from smprod import db
from smprod.grids.ease import region_from_bbox
from smprod.grids.regrid import block_mean
from smprod.inputs.dayfiles import InputStore
from smprod.inputs.ingest import ingest_day
from smprod.inputs.sources import ArchiveSource
from smprod.layout import WorkLayout
from smprod.product.produce import produce_day
from smprod.product.provenance import ModelInfo
from smprod.product.read import product_problems
from smprod.science.correction import porosity_from_texture
from smprod.science.features import PREDICTORS
from smprod.science.models import make_model
from smprod.science.training import training_table
from smprod.synthetic.archive import write_archive

pytestmark = pytest.mark.integration

BBOX = (-97.9, 35.0, -97.2, 35.5)
START = date(2024, 6, 1)
NDAYS = 10


def test_a_9km_day_is_produced_on_288km_tiles_and_conserves_mass(tmp_path, database_url):
    write_archive(tmp_path / "archive", START, NDAYS, BBOX, 9, seed=5)
    region = region_from_bbox(BBOX, 9)
    assert region.factor == 9 and region.tile_cells == 32 and region.tile_pixels == 288
    layout, source, engine = (
        WorkLayout(tmp_path / "work"),
        ArchiveSource(tmp_path / "archive"),
        db.make_engine(database_url),
    )
    days = [START + timedelta(days=k) for k in range(NDAYS)]
    for day in days:
        ingest_day(day, region, "SPL3SMP_E", source, layout, engine)
    store = InputStore(layout)
    table = training_table(days[:-1], region, store)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())

    info = ModelInfo("nine", "1", "run", "rf")
    # conservation_km 9: every 9 km cell keeps SMAP_E's value
    product = produce_day(days[-1], region, layout, model, info, "SPL3SMP_E", conservation_km=9)

    assert product_problems(product.files, region) == []
    fine = store.open(days[-1], "fine")
    porosity = porosity_from_texture(fine["sand"].values, fine["clay"].values)
    means = block_mean(product.corrected, region.factor, max_invalid_fraction=0.999)
    valid = np.isfinite(product.corrected)
    mean_porosity = block_mean(np.where(valid, porosity, np.nan), region.factor, max_invalid_fraction=0.999)
    feasible = np.isfinite(product.coarse_sm) & np.isfinite(means) & (product.coarse_sm <= mean_porosity)
    assert feasible.sum() > 10
    np.testing.assert_allclose(means[feasible], product.coarse_sm[feasible], rtol=0, atol=1e-4)
    record = json.loads(product.files.provenance.read_text())
    assert record["parameters"]["correction"]["max_feasible_residual"] <= 1e-4

    # the default: the global 36 km cells keep the mean of their SMAP_E values (50 % rule)
    product = produce_day(days[-1], region, layout, model, info, "SPL3SMP_E")
    record = json.loads(product.files.provenance.read_text())
    assert record["parameters"]["conservation_km"] == 36
    assert record["parameters"]["correction"]["max_feasible_residual"] <= 1e-4
    block = 4
    rows = (region.coarse.row0 + np.arange(region.coarse.nrows)) // block
    cols = (region.coarse.col0 + np.arange(region.coarse.ncols)) // block
    checked = 0
    for r in np.unique(rows):
        for c in np.unique(cols):
            cells = np.ix_(rows == r, cols == c)
            smap = product.coarse_sm[cells]
            if np.isfinite(smap).sum() < 0.5 * block * block:
                continue
            pixels = np.ix_(np.repeat(rows == r, region.factor), np.repeat(cols == c, region.factor))
            values = product.corrected[pixels]
            if np.nanmean(np.where(np.isfinite(values), porosity[pixels], np.nan)) < np.nanmean(smap):
                continue  # infeasible
            np.testing.assert_allclose(np.nanmean(values), np.nanmean(smap), atol=1e-4)
            checked += 1
    assert checked >= 2
