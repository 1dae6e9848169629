"""The readers and reprojection on a synthetic archive written by ``smprod.synthetic`` (another writer).

The synthetic writer and the readers were written independently from the format documents;
reading its files end to end (name -> reader -> native grid -> region grid) checks both.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose

from smprod.grids.ease import region_from_bbox
from smprod.grids.regrid import block_mean
from smprod.grids.reproject import mosaic, smap_to_coarse, to_fine
from smprod.inputs.readers import reader_for
from smprod.inputs.readers.imerg import imerg_name, read_imerg
from smprod.inputs.readers.ismn import is_surface, read_stm
from smprod.inputs.readers.modis import read_modis
from smprod.inputs.readers.smap import read_smap_l3
from smprod.inputs.readers.static import read_static, slope_degrees

BBOX = (-98.0, 35.0, -97.0, 35.7)
DAYS = ("20240501", "20240502")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from smprod.synthetic.archive import write_archive

    out = tmp_path_factory.mktemp("synth-readers")
    write_archive(out, date(2024, 5, 1), len(DAYS), BBOX, 36, seed=11)
    return out


@pytest.fixture(scope="module")
def region():
    return region_from_bbox(BBOX, 36)


def _truth(archive, day):
    with rasterio.open(archive / "truth" / f"truth_{day}.tif") as src:
        return src.read(1), src.transform


def test_every_granule_has_a_reader_that_reads_it(archive):
    files = [p for p in archive.rglob("*") if p.is_file() and "truth" not in p.relative_to(archive).parts]
    assert len(files) > 30
    for path in files:
        reader = reader_for(path.name)
        assert reader is not None, path.name
        assert reader(path) is not None


def test_truth_lies_on_the_region_fine_grid(archive, region):
    _, transform = _truth(archive, DAYS[0])
    assert_allclose(tuple(transform)[:6], tuple(region.fine.transform)[:6], atol=1e-6)


@pytest.mark.parametrize("day", DAYS)
def test_smap_window_agrees_with_the_truth_within_retrieval_noise(archive, region, day):
    (path,) = archive.rglob(f"SMAP_L3_SM_P_{day}_*.h5")
    coarse = smap_to_coarse(read_smap_l3(path, window=region.coarse), region)
    truth, _ = _truth(archive, day)
    expected = block_mean(truth, region.factor)
    sm = coarse["sm"].values
    valid = np.isfinite(sm)
    assert valid.mean() > 0.5
    assert ((sm[valid] >= 0.02) & (sm[valid] <= 0.5)).all()
    assert np.mean(np.abs(sm[valid] - expected[valid])) < 0.05  # retrieval noise is ~0.03 m3/m3


def _mosaic(archive, region, pattern, method="average", nodata=np.nan):
    """The region's tiles of ``pattern`` read, put on the 1 km grid and mosaicked, as ingest does."""
    tiles = [to_fine(read_modis(p), region, method) for p in sorted(archive.rglob(pattern))]
    assert len(tiles) > 1
    return {name: mosaic([t[name].values for t in tiles], nodata) for name in tiles[0].data_vars}


def test_modis_tiles_mosaic_onto_the_region(archive, region):
    lst = _mosaic(archive, region, "MOD11A1.A2024122.*.hdf")
    for name in ("lst_day", "lst_night"):
        valid = np.isfinite(lst[name])
        assert 0.2 < valid.mean() < 0.98  # cloud gaps, but not an empty day
        assert ((lst[name][valid] > 250) & (lst[name][valid] < 330)).all()
    vi = _mosaic(archive, region, "MOD13A2.*.hdf")
    assert np.nanmin(vi["ndvi"]) >= -0.2 and np.nanmax(vi["ndvi"]) <= 1.0
    albedo = _mosaic(archive, region, "MCD43A3.A2024122.*.hdf")
    assert np.nanmin(albedo["albedo_wsa"]) >= 0 and np.nanmax(albedo["albedo_bsa"]) <= 1
    lc = _mosaic(archive, region, "MCD12Q1.*.hdf", "mode", nodata=-1)
    classes = lc["landcover"]
    assert (classes != -1).mean() > 0.99
    assert set(np.unique(classes[classes != -1])) <= set(range(1, 18))


def test_imerg_windows_and_runs(archive, region):
    paths = sorted(archive.rglob("3B-DAY*.nc4"))
    assert paths
    for path in paths:
        da = read_imerg(path, window=region.fine)
        assert da.attrs["units"] == "mm/day" and da.attrs["run"] == imerg_name(path.name).run
        fine = to_fine(da, region, "bilinear")
        assert np.isfinite(fine.values).all() and (fine.values >= 0).all()


def test_static_maps_and_slope(archive, region):
    elevation = to_fine(read_static(archive / "static" / "elevation.tif"), region, "average")
    assert np.isfinite(elevation.values).all()
    slope = slope_degrees(elevation.values, region.fine)
    assert np.isfinite(slope).all() and (slope >= 0).all() and slope.max() < 30
    for name in ("sand", "silt", "clay"):
        values = to_fine(read_static(archive / "static" / f"{name}.tif"), region).values
        assert ((values >= 0) & (values <= 100)).all()


def test_stations_inside_the_region_and_depth_filter(archive, region):
    series = [read_stm(p) for p in sorted(archive.rglob("*.stm"))]
    minlon, minlat, maxlon, maxlat = region.fine.lonlat_bounds()
    assert all(minlon <= s.station.lon <= maxlon and minlat <= s.station.lat <= maxlat for s in series)
    surface = [s for s in series if is_surface(s.station)]
    assert 0 < len(surface) < len(series)  # the deeper sensor is filtered out
    assert all(((s.data["value"] >= 0) & (s.data["value"] <= 1)).all() for s in series)
