"""The daily flow's skip rule and degraded days end to end (issue 18, items 4 and 6).

- One input key, one product: a rerun with nothing changed is skipped with identical bytes; a
  changed ``static/elevation.tif`` or a later day ingested (MODIS gap filling reaches it) is
  produced again, then skipped again.
- Degraded inputs degrade the product, not the schedule: an unreadable IMERG file with no other
  run of its day no longer fails D, D+1 and D+2; an all-fill SMAP day fails with a message that
  names the day, the coverage and the setting (before the model stage), or is published with a
  warning when ``low_smap_coverage = "publish"``.

Each test has its own hard-linked copy of the small synthetic archive (a file is replaced, never
changed in place), work directory and database; one champion is trained for the module, and the
retrain policy is pushed out of the way (as tests/e2e/test_operations).
"""

from __future__ import annotations

import hashlib
import json
import types

import numpy as np
import pytest

from smprod.config import load_settings
from smprod.inputs.ledger import REASON_SUFFIX
from smprod.ops import runs
from tests.archive_edits import all_fill_smap, replace_file
from tests.e2e.flow_worlds import flow_world, train_champion

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def champion(small_world, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """A champion trained on the 14 days before the small world's last day."""
    return train_champion(small_world, pg_server, tmp_path_factory, "degraded")[0]


@pytest.fixture
def world(small_world, champion, database_url, tmp_path) -> types.SimpleNamespace:
    return flow_world(small_world, champion, database_url, tmp_path)


def _digests(world, day) -> dict[str, str]:
    files = world.layout.product_files(day)
    paths = {**files.cogs(), "thumbnail": files.thumbnail, "provenance": files.provenance}
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def _provenance(world, day) -> dict:
    return json.loads(world.layout.product_files(day).provenance.read_text())


def test_the_skip_rule_follows_the_input_key(world, prefect_api):
    import rasterio

    from flows.daily import produce_one_day

    day, later = world.days[-6], world.days[-5]
    assert produce_one_day(world.settings, day) == "succeeded"
    first, key = _digests(world, day), _provenance(world, day)["parameters"]["input_key"]
    assert produce_one_day(world.settings, day) == "skipped"  # nothing changed
    assert _digests(world, day) == first

    elevation = world.archive / "static" / "elevation.tif"
    with rasterio.open(elevation) as src:
        profile, values = src.profile, src.read(1)
    elevation.unlink()
    with rasterio.open(elevation, "w", **profile) as dst:
        dst.write(values + 500.0, 1)  # +500 m: re-ingested, and no longer "skipped"
    assert produce_one_day(world.settings, day) == "succeeded"
    raised = _provenance(world, day)["parameters"]
    assert raised["input_key"] != key
    assert _digests(world, day)["provenance"] != first["provenance"]
    assert produce_one_day(world.settings, day) == "skipped"

    assert produce_one_day(world.settings, later) == "succeeded"  # a later day is ingested
    assert produce_one_day(world.settings, day) == "succeeded"  # gap filling now reaches it
    record = _provenance(world, day)["parameters"]
    assert later.isoformat() in record["input_key_components"]["gap_filling_days"]
    assert later.isoformat() not in raised["input_key_components"]["gap_filling_days"]
    again = _digests(world, day)
    assert produce_one_day(world.settings, day) == "skipped"
    assert _digests(world, day) == again
    keys = [r.input_key for r in runs.runs_of(world.engine, day)]
    assert (
        keys[0] == keys[1] == key and keys[2] == keys[3] != key and keys[4] == keys[5] not in (key, keys[2])
    )


def test_an_unreadable_imerg_day_without_another_run_no_longer_stops_three_days(world, prefect_api):
    from flows.daily import backfill

    bad = world.days[-9]  # the small world's IMERG has only a Final run of this day
    [final] = world.archive.rglob(f"3B-DAY.MS.MRG.3IMERG.{bad:%Y%m%d}-*.nc4")
    assert not list(world.archive.rglob(f"3B-DAY-[EL].MS.MRG.3IMERG.{bad:%Y%m%d}-*.nc4"))
    replace_file(final, final.read_bytes()[:1000])

    outcome = backfill(bad, world.days[-7], settings=world.settings)

    assert set(outcome.values()) == {"succeeded"}, outcome
    for day in world.days[-9:-6]:
        record = _provenance(world, day)
        assert record["qa_fractions"]["precip_filled"] == 1.0
        assert any(f"no valid IMERG granule for {bad}: filled" in w for w in record["parameters"]["warnings"])
    assert (world.layout.root / "quarantine" / (final.name + REASON_SUFFIX)).exists()


def test_an_all_fill_smap_day_fails_clearly_or_is_published_with_a_warning(world, prefect_api):
    from flows.daily import backfill

    day = world.days[-4]
    all_fill_smap(world.archive, day)

    outcome = backfill(day, day, settings=world.settings)

    message = outcome[str(day)]
    assert message.startswith(
        f"failed: {day}: SPL3SMP has a valid retrieval in 0 of the region's 12 coarse cells (0.0 %), "
        "below min_smap_coverage = 0.1: not produced"
    )
    assert 'low_smap_coverage = "publish"' in message
    [failed] = runs.runs_of(world.engine, day)
    assert failed.status == "failed" and failed.error.startswith("MissingInputError: ")
    assert set(failed.stage_seconds) == {"ingest"}  # stopped before the model stage
    assert not world.layout.product_files(day).provenance.exists()

    publish = load_settings(**world.overrides, low_smap_coverage="publish")
    assert backfill(day, day, settings=publish) == {str(day): "succeeded"}
    record = _provenance(world, day)
    assert record["qa_fractions"]["coarse_missing"] == 1.0
    [warning] = record["parameters"]["warnings"]
    assert "published anyway" in warning and "0 of the region's 12 coarse cells" in warning
    assert np.isfinite(record["statistics"]["mean"])
    assert list(world.layout.catalog.rglob(f"smprod-sm-1km-{day:%Y%m%d}.json"))
