"""One input key, one product: the key covers what a product day's bytes depend on.

Same key => same bytes (a rerun, or a later day ingested and taken away again); a changed input
(a static layer, the region, a gap-filling day, a setting, the code) => another key, and the
key's components say which. Gridded inputs from a small synthetic world (no archive, no
database), one small forest shared by the module (fitted to any target: the tests are about bytes, not skill).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta

import numpy as np
import pytest

from smprod.errors import MissingInputError, ProductError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import InputStore
from smprod.layout import WorkLayout
from smprod.product.produce import (
    ProductSettings,
    check_smap_coverage,
    input_key,
    is_current,
    key_changes,
    produce_day,
)
from smprod.product.provenance import ModelInfo
from smprod.science.features import GAP_DAYS, PERSISTENT_DAYS, PREDICTORS, fine_features
from smprod.science.models import make_model
from smprod.synthetic.gridded import write_gridded_inputs
from smprod.synthetic.world import simulate

BBOX = (-98.0, 35.0, -96.8, 35.7)  # 3 x 4 cells of 36 km (tests/conftest.py SMALL_BBOX)
REGION = region_from_bbox(BBOX, 36)
START = date(2024, 6, 1)
NDAYS = 14
INFO = ModelInfo("key-test", "1", "run-1", "rf")
SETTINGS = ProductSettings("SPL3SMP")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = simulate(REGION, START, NDAYS, seed=7, spinup=5)
    root = tmp_path_factory.mktemp("key_world")
    layout = WorkLayout(root)
    days = write_gridded_inputs(world, layout, seed=7)
    # any fitted model will do: 1 km rows of a training day, a target made from two predictors
    frame, _ = fine_features(days[8], REGION, InputStore(layout))
    rows = frame.dropna().iloc[::20]
    target = 0.5 * rows["sm_lag3"].to_numpy() + 0.001 * rows["precip_3d"].to_numpy()
    model = make_model("rf", PREDICTORS).fit(rows, target)
    return world, layout, days, model


@pytest.fixture
def layout(world, tmp_path) -> WorkLayout:
    """A copy of the world's day inputs for one test."""
    shutil.copytree(world[1].root / "inputs", tmp_path / "inputs")
    return WorkLayout(tmp_path)


def _produce(layout, world, day, region=REGION, **settings) -> dict[str, str]:
    product = produce_day(day, region, layout, world[3], INFO, "SPL3SMP", **settings)
    files = product.files
    paths = {**files.cogs(), "thumbnail": files.thumbnail, "provenance": files.provenance}
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def _key(layout, day, region=REGION, settings=SETTINGS):
    return input_key(InputStore(layout), day, region, settings)


def _provenance(layout, day) -> dict:
    return json.loads(layout.product_files(day).provenance.read_text())


def test_a_rerun_with_nothing_changed_has_the_same_key_and_identical_bytes(world, layout):
    day = world[2][10]
    key = _key(layout, day)
    first = _produce(layout, world, day)
    files = layout.product_files(day)
    assert is_current(files, key.value, INFO)
    assert not is_current(files, key.value, ModelInfo("key-test", "2", "run-2", "rf"))
    assert _key(layout, day) == key
    assert _produce(layout, world, day) == first
    record = _provenance(layout, day)["parameters"]
    assert record["input_key"] == key.value and record["input_key_components"] == key.components
    assert key_changes(files, key, INFO) == [
        "nothing: same input key and model, but no finished run of them in the ledger"
    ]


def test_the_key_names_the_day_and_the_gap_filling_days_it_covers(world, layout):
    days = world[2]
    day = days[-3]
    key = _key(layout, day)
    # gap filling reads D +- GAP_DAYS, the persistent anomalies D - PERSISTENT_DAYS..D
    expected = [d for d in days if -PERSISTENT_DAYS <= (d - day).days <= GAP_DAYS and d != day]
    assert min(expected) < day - timedelta(days=GAP_DAYS)  # the world reaches back that far
    assert sorted(key.components["gap_filling_days"]) == [d.isoformat() for d in expected]
    assert key.days == tuple(sorted([day, *expected]))
    assert set(key.components) == {"day", "gap_filling_days", "region", "settings", "code", "software"}
    assert {"elevation", "precip_3d", "lst_day"} <= set(key.components["day"]["fine"])
    assert {"sm", "sm_lag3"} <= set(key.components["day"]["coarse"])
    with pytest.raises(MissingInputError, match="no gridded inputs for 2024-07-01"):
        _key(layout, date(2024, 7, 1))


def test_a_changed_static_layer_gives_another_key_and_says_which(world, layout):
    w, _, days, _ = world
    day = days[10]
    before = _key(layout, day)
    _produce(layout, world, day)
    raised = w.statics.elevation.copy()
    try:
        w.statics.elevation += 500.0  # static/elevation.tif +500 m, re-ingested
        write_gridded_inputs(w, layout, seed=7)
    finally:
        w.statics.elevation[...] = raised
    after = _key(layout, day)
    assert after.value != before.value
    changes = key_changes(layout.product_files(day), after, INFO)
    assert changes[0].startswith("day inputs: ") and "elevation" in changes[0]
    assert not is_current(layout.product_files(day), after.value, INFO)  # produced again
    bytes_after = _produce(layout, world, day)
    assert _provenance(layout, day)["parameters"]["input_key"] == after.value
    assert _produce(layout, world, day) == bytes_after  # and then current again


def test_a_later_day_ingested_gives_another_key_and_the_same_key_gives_the_same_bytes(
    world, layout, tmp_path
):
    days = world[2]
    day = days[10]
    later = [layout.inputs_dir(d) for d in days[11:]]
    stash = tmp_path / "stash"
    for k, directory in enumerate(later):  # at the leading edge: no later day ingested yet
        shutil.move(directory, stash / str(k))
    alone = _key(layout, day)
    edge = _produce(layout, world, day)
    for k, directory in enumerate(later):  # the next days are ingested
        shutil.move(stash / str(k), directory)
    with_later = _key(layout, day)
    assert with_later.value != alone.value
    changes = key_changes(layout.product_files(day), with_later, INFO)
    assert changes == [f"gap-filling days added: {', '.join(d.isoformat() for d in days[11:])}"]
    both_sides = _produce(layout, world, day)
    assert both_sides["soil_moisture"] != edge["soil_moisture"]  # gap filling reached the later days
    assert _produce(layout, world, day) == both_sides
    for k, directory in enumerate(later):  # the same inputs as the first time: the same bytes
        shutil.move(directory, stash / str(k))
    assert _key(layout, day) == alone
    assert _produce(layout, world, day) == edge


def test_the_store_of_a_key_reads_only_its_days(world, layout):
    days = world[2]
    key = _key(layout, days[0])
    keyed = InputStore(layout).only(key.days)
    # days[9] is 9 days after: gap filling reads 8 days ahead (the persistent anomalies only back)
    assert keyed.has(days[0]) and keyed.has(days[8]) and not keyed.has(days[9])
    with pytest.raises(MissingInputError, match="not among the days"):
        keyed.open(days[9], "fine")
    import pickle

    assert pickle.loads(pickle.dumps(keyed)).days == keyed.days  # travels to Dask workers as it is


def test_a_wider_region_or_another_bbox_gives_another_key(world, layout):
    day = world[2][10]
    key = _key(layout, day)
    wider = region_from_bbox((-98.4, 35.0, -96.8, 35.7), 36)
    assert wider.coarse.shape != REGION.coarse.shape
    assert _key(layout, day, wider).value != key.value
    same_cells = region_from_bbox((-97.99, 35.01, -96.81, 35.69), 36)  # snaps to the same cells
    assert same_cells.coarse == REGION.coarse
    other = _key(layout, day, same_cells)
    assert other.value != key.value  # the provenance records the bbox as given
    assert other.components["region"]["shape"] == key.components["region"]["shape"]


@pytest.mark.parametrize(
    "changed",
    [
        {"gap_correction_km": 0.0},
        {"conservation_km": 9},
        {"min_smap_coverage": 0.5},
        {"low_smap_coverage": "publish"},
    ],
)
def test_a_product_setting_is_part_of_the_key(world, layout, changed):
    day = world[2][10]
    other = ProductSettings(**{**SETTINGS.__dict__, **changed})
    key, changed_key = _key(layout, day), _key(layout, day, settings=other)
    assert changed_key.value != key.value
    assert changed_key.components["settings"] == {**key.components["settings"], **changed}


def test_changed_code_or_packages_give_another_key(world, layout, monkeypatch):
    import smprod.inputs.ingest
    import smprod.product.produce

    day = world[2][10]
    key = _key(layout, day)
    monkeypatch.setattr(smprod.inputs.ingest, "code_digest", lambda entries: "a fixed correction")
    assert _key(layout, day).value != key.value
    monkeypatch.undo()
    monkeypatch.setattr(smprod.product.produce, "software_versions", lambda packages: {"numpy": "9"})
    assert _key(layout, day).value != key.value


def test_inputs_rewritten_while_predicting_are_refused(world, layout, monkeypatch):
    import smprod.product.produce

    w, _, days, _ = world
    day = days[10]
    predict = smprod.product.produce.predict_region

    def predict_then_reingest(*args, **kwargs):
        out = predict(*args, **kwargs)
        w.statics.clay += 1.0
        try:
            write_gridded_inputs(w, layout, seed=7)  # another process re-ingests meanwhile
        finally:
            w.statics.clay -= 1.0
        return out

    monkeypatch.setattr(smprod.product.produce, "predict_region", predict_then_reingest)
    with pytest.raises(ProductError, match="rewritten while it was predicted"):
        produce_day(day, REGION, layout, world[3], INFO, "SPL3SMP")
    assert not layout.product_files(day).provenance.exists()


def _without_smap(layout: WorkLayout, day: date, keep: int) -> None:
    """Rewrite the day's coarse SMAP with only ``keep`` valid cells (an all-fill granule: 0)."""
    import netCDF4

    with netCDF4.Dataset(layout.inputs_dir(day) / "coarse.nc", "a") as nc:
        for name in ("sm", "sm_am", "sm_pm"):
            values = np.full(nc[name].shape, np.nan, np.float32)
            values.flat[:keep] = 0.25
            nc[name][:] = values


def test_a_day_without_smap_fails_naming_the_day_the_coverage_and_the_setting(world, layout):
    day = world[2][10]
    _without_smap(layout, day, keep=0)
    with pytest.raises(MissingInputError) as raised:
        produce_day(day, REGION, layout, world[3], INFO, "SPL3SMP")
    message = str(raised.value)
    assert message.startswith(f"{day}: SPL3SMP has a valid retrieval in 0 of the region's 12 coarse cells")
    assert "(0.0 %), below min_smap_coverage = 0.1" in message and 'low_smap_coverage = "publish"' in message
    assert not layout.product_files(day).provenance.exists()
    # even with the minimum at 0, a day without any SMAP cell is never produced silently
    with pytest.raises(MissingInputError, match="0 of the region's 12"):
        produce_day(day, REGION, layout, world[3], INFO, "SPL3SMP", min_smap_coverage=0.0)


def test_a_day_without_smap_is_published_with_a_warning_when_the_setting_says_so(world, layout):
    day = world[2][10]
    _without_smap(layout, day, keep=0)
    produce_day(day, REGION, layout, world[3], INFO, "SPL3SMP", low_smap_coverage="publish")
    record = _provenance(layout, day)
    [warning] = record["parameters"]["warnings"]
    assert warning.startswith(f"{day}: SPL3SMP has a valid retrieval in 0 of the region's 12 coarse cells")
    assert 'published anyway (low_smap_coverage = "publish")' in warning
    assert record["parameters"]["smap_coverage"] == {
        "valid_cells": 0, "cells": 12, "fraction": 0.0, "min_smap_coverage": 0.1,
    }  # fmt: skip
    assert record["qa_fractions"]["coarse_missing"] == 1.0


def test_a_day_with_enough_smap_is_produced_without_warning(world, layout):
    day = world[2][10]
    _without_smap(layout, day, keep=2)  # 2 of 12 cells: 16.7 %, above the default 10 %
    store = InputStore(layout)
    coverage, warning = check_smap_coverage(store, day, SETTINGS)
    assert (coverage.valid, coverage.cells, warning) == (2, 12, None)
    with pytest.raises(MissingInputError, match=r"2 of the region's 12 coarse cells \(16.7 %\), below "):
        check_smap_coverage(store, day, ProductSettings("SPL3SMP", min_smap_coverage=0.2))
    produce_day(day, REGION, layout, world[3], INFO, "SPL3SMP")
    record = _provenance(layout, day)["parameters"]
    assert record["warnings"] == [] and record["smap_coverage"]["valid_cells"] == 2
