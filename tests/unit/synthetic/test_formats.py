"""The granule writers' shortcuts write exactly what the plain library calls write."""

from __future__ import annotations

from datetime import date

import h5py
import numpy as np
import pytest

from smprod.grids.ease import region_from_bbox
from smprod.synthetic import archive, formats
from smprod.synthetic.world import simulate


def _chunked_values(rng: np.random.Generator) -> dict[str, np.ndarray]:
    # a global-looking grid: one fill value nearly everywhere, a small region of values, an edge
    # chunk that is partly data, a NaN, and chunks of another uniform value
    sm = np.full((45, 70), -9999.0, np.float32)
    sm[10:14, 20:27] = rng.random((4, 7), np.float32)
    sm[40:, 60:] = 0.25
    sm[3, 3] = np.nan
    flag = np.full((45, 70), 65534, np.uint16)
    flag[10:14, 20:27] = 1
    return {"sm": sm, "flag": flag}


@pytest.mark.parametrize("shuffle", [False, True])
def test_chunks_written_directly_read_back_as_the_librarys(tmp_path, shuffle):
    values = _chunked_values(np.random.default_rng(0))
    kwargs = {"chunks": (8, 16), "compression": "gzip", "compression_opts": 4, "shuffle": shuffle}
    with h5py.File(tmp_path / "lib.h5", "w") as lib, h5py.File(tmp_path / "direct.h5", "w") as direct:
        for name, v in values.items():
            lib.create_dataset(name, data=v, **kwargs)
            formats._write_chunks(direct.create_dataset(name, shape=v.shape, dtype=v.dtype, **kwargs), v)
            formats._write_chunks(
                direct.create_dataset(name + "_again", shape=v.shape, dtype=v.dtype, **kwargs), v
            )
    with h5py.File(tmp_path / "lib.h5") as lib, h5py.File(tmp_path / "direct.h5") as direct:
        for name in values:
            for other in (name, name + "_again"):  # the second from the cached uniform chunks
                assert np.array_equal(lib[name][()], direct[other][()], equal_nan=True)
                assert direct[other].compression == "gzip" and direct[other].shuffle == shuffle
                assert direct[other].chunks == (8, 16)


def test_chunks_of_other_layouts_are_left_to_the_library(tmp_path):
    values = _chunked_values(np.random.default_rng(1))["sm"]
    with h5py.File(tmp_path / "x.h5", "w") as f:
        formats._write_chunks(f.create_dataset("plain", shape=values.shape, dtype=values.dtype), values)
        lzf = f.create_dataset("lzf", shape=values.shape, dtype=values.dtype, compression="lzf")
        formats._write_chunks(lzf, values)
    with h5py.File(tmp_path / "x.h5") as f:
        for name in ("plain", "lzf"):
            assert np.array_equal(f[name][()], values, equal_nan=True)


def test_imerg_values_and_filters_are_those_of_a_plain_netcdf_write(tmp_path):
    import netCDF4

    precip = np.zeros((1800, 3600), np.float32)
    precip[500:510, 800:815] = np.arange(150, dtype=np.float32).reshape(10, 15)
    precip[0, 0] = np.nan
    path = formats.write_imerg_daily(tmp_path / "3B-DAY.nc4", precip, date(2024, 6, 1), "Final")
    with netCDF4.Dataset(path) as nc:
        var = nc["precipitation"]
        assert var.filters()["zlib"] and var.filters()["shuffle"] and var.filters()["complevel"] == 4
        stored = var[:]
    expected = np.ma.masked_equal(np.flipud(np.nan_to_num(precip, nan=-9999.9)).T[None], np.float32(-9999.9))
    assert np.array_equal(stored.mask, expected.mask)
    assert np.array_equal(stored.filled(0), expected.filled(0))


def test_modis_tiles_carry_each_products_deflate_level_and_metadata(tmp_path):
    from pyhdf.SD import SD

    fields = {"LST_Day_1km": (np.zeros((12, 12), np.uint16), formats.LST_ATTRS)}
    for level in (1, 5):
        path = formats.write_modis_tile(tmp_path / f"t{level}.hdf", "G", fields, 9, 5, level=level)
        sd = SD(str(path))
        assert sd.select("LST_Day_1km").getcompress()[1] == level
        assert sd.attributes()["StructMetadata.0"] == formats.struct_metadata(
            "G", 9, 5, 12, [("LST_Day_1km", "DFNT_UINT16")]
        )
        sd.end()
    assert formats.deflate_level("MOD11A1") == 1 and formats.deflate_level("MCD12Q1") == formats.DEFLATE_LEVEL


REGION = region_from_bbox((-98.0, 35.0, -96.8, 35.7), 36)


@pytest.fixture(scope="module")
def world():
    return simulate(REGION, date(2024, 6, 1), 1, seed=11)


@pytest.mark.parametrize("n", [1200, 2400])
def test_tile_windows_give_the_whole_tile_values(world, n):
    day = world.days[0]
    footprint = archive._TileFootprint(REGION, 10, 5, n)
    inside = np.isfinite(archive._to_tile(np.ones(REGION.fine.shape), REGION, 10, 5, n, nearest=True))
    for values in (day.lst_day["Terra"], day.albedo_bsa):
        whole = archive._to_tile(values, REGION, 10, 5, n)
        stored = archive._stored(whole, 0.02, 0, "uint16")
        qc = archive._lst_qc(whole, inside)
        (part,) = footprint.fields(values)
        assert np.array_equal(footprint.sds("a", archive._stored(part, 0.02, 0, "uint16"), 0), stored)
        assert np.array_equal(footprint.sds("q", archive._lst_qc(part, footprint.inside), 0b11), qc)
    # a window that misses values falls back to the whole tile, values unchanged
    footprint.window = (slice(0, 1), slice(0, 1))
    footprint.inside = footprint.inside[:1, :1]
    for _ in range(2):  # the widening call, then one on the whole tile
        day_part, night_part = footprint.fields(day.lst_day["Terra"], day.lst_night["Terra"])
        assert footprint.window == (slice(0, n), slice(0, n))
        for part, values in ((day_part, day.lst_day["Terra"]), (night_part, day.lst_night["Terra"])):
            assert np.array_equal(part, archive._to_tile(values, REGION, 10, 5, n), equal_nan=True)
