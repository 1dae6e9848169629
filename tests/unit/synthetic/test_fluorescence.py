"""Synthetic SIF: physically plausible, written as GOSIF composites the real reader reads, from a
random stream of its own (every other file of an archive byte for byte as without SIF)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose, assert_array_equal

from smprod.grids.ease import region_from_bbox
from smprod.inputs.readers.sif import RESOLUTION, WATER, read_gosif
from smprod.synthetic import archive as archive_module
from smprod.synthetic.archive import write_archive
from smprod.synthetic.fluorescence import daily_sif, root_zone, stored, write_sif_archive
from smprod.synthetic.world import simulate

BBOX = (-98.0, 35.0, -97.7, 35.25)
START = date(2024, 5, 6)  # DOY 127: the world's 4 days meet the composites of DOY 121 and 129
DAYS = 4
SEED = 5


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parent.name != "sif"
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """The same world written twice at one path (HDF4 files record their temporary name):
    without SIF (its writer switched off), then as ``smprod synth`` writes it."""
    out = tmp_path_factory.mktemp("fluorescence") / "archive"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archive_module, "write_sif", lambda *args: 0)
        write_archive(out, START, DAYS, BBOX, 36, SEED)
    without = _digests(out)
    assert not (out / "sif").exists()
    shutil.rmtree(out)
    report = write_archive(out, START, DAYS, BBOX, 36, SEED)
    return out, without, report


def test_every_other_file_is_byte_for_byte_the_same_with_sif(archives):
    out, without, report = archives
    assert report.files["sif"] == 2
    assert _digests(out) == without


def test_the_composites_are_gosif_files_on_the_lattice_the_reader_reads(archives):
    out, _, report = archives
    names = sorted(p.name for p in (out / "sif").iterdir())
    assert names == ["GOSIF_2024121.tif", "GOSIF_2024129.tif"]
    with rasterio.open(out / "sif" / names[0]) as ds:
        assert ds.dtypes == ("int16",) and ds.crs.to_epsg() == 4326 and ds.nodata is None
        assert_allclose([ds.transform.a, -ds.transform.e], [RESOLUTION, RESOLUTION])
        assert (ds.read(1) == WATER).any()  # cells beyond the simulated region
    sif = read_gosif(out / "sif" / names[0], window=report.region.fine)
    inside = sif.sel(x=slice(BBOX[0], BBOX[2]), y=slice(BBOX[3], BBOX[1]))
    assert np.isfinite(inside).all() and 0.05 < float(inside.mean()) < 1.5


def test_write_sif_archive_adds_the_same_composites_to_an_archive_written_before(archives, tmp_path):
    out, _, _ = archives
    assert write_sif_archive(tmp_path, START, DAYS, BBOX, 36, SEED) == 2
    for path in (out / "sif").iterdir():
        assert (tmp_path / "sif" / path.name).read_bytes() == path.read_bytes()


def test_sif_follows_greenness_and_light_and_drops_with_root_zone_stress():
    region = region_from_bbox(BBOX, 36)
    world = simulate(region, START, DAYS, SEED)
    day, st = world.days[0], world.statics
    _, lat = region.fine.lonlat()
    wet, dry = daily_sif(world, day, st.fc, lat), daily_sif(world, day, st.wp, lat)
    assert (dry < wet).all() and (dry > 0).all()  # stressed, not dead
    greener = day.ndvi > np.median(day.ndvi)
    assert wet[greener].mean() > wet[~greener].mean()
    zones = list(root_zone(world.days))
    assert_array_equal(zones[0], world.days[0].theta)  # the filter starts from the first day


def test_stored_values_are_scaled_int16_with_the_water_code_for_no_data():
    values = np.array([[0.1234, np.nan], [-0.01, 0.5]])
    assert_array_equal(stored(values), np.array([[1234, WATER], [0, 5000]], np.int16))
