"""MODIS tile readers: real tiles (structure, scaling, fill, QC, georeferencing) and small synthetic tiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pyproj import Transformer

from smprod.errors import GranuleFormatError
from smprod.inputs.readers.hdfeos import SPHERE_RADIUS, TILE_SIZE, parse_struct_metadata
from smprod.inputs.readers.modis import (
    lst_quality_ok,
    modis_name,
    read_modis,
    scale_stored,
    vi_quality_ok,
)

LST_NAME = "MOD11A1.A2021227.h11v05.061.2021228105320.hdf"
VI_NAME = "MOD13A2.A2021225.h11v06.061.2021320163717.hdf"
ALBEDO_NAME = "MCD43A3.A2017199.h15v07.006.2017208032853.hdf"


def _raw(path: Path, name: str) -> np.ndarray:
    from pyhdf.SD import SD

    sd = SD(str(path))
    try:
        return sd.select(name).get()
    finally:
        sd.end()


# ---------------------------------------------------------------- pure rules


def test_lst_quality_rule_on_hand_made_qc_bytes():
    # bits 0-1 mandatory, bits 6-7 LST error class
    qc = np.array([0b00_00_00_00, 0b01_00_00_01, 0b10_00_00_01, 0b11_00_00_01, 0b00_00_00_10, 0b00_00_00_11])
    assert_array_equal(lst_quality_ok(qc), [True, True, False, False, False, False])
    # mandatory 00 is kept whatever the error bits say (the product calls it good quality)
    assert lst_quality_ok(np.array([0b11_00_00_00]))[0]


def test_vi_quality_rule_uses_modland_bits_and_reliability():
    quality = np.array([0b0000, 0b0001, 0b0010, 0b0011, 0b0001])
    assert_array_equal(vi_quality_ok(quality), [True, True, False, False, True])
    reliability = np.array([0, 1, 0, 0, 3])
    assert_array_equal(vi_quality_ok(quality, reliability), [True, True, False, False, False])


def test_scale_conventions_multiply_and_divide():
    stored = np.array([0, 15000, 7499, 65535], dtype=np.uint16)
    lst = scale_stored(stored, {"scale_factor": 0.02, "_FillValue": 0, "valid_range": [7500, 65535]})
    assert_allclose(lst, [np.nan, 300.0, np.nan, 1310.7], rtol=1e-6)
    ndvi = np.array([-3000, 5000, 10000], dtype=np.int16)
    for sf in (10000.0, 0.0001):  # the MOD13 divisor and its reciprocal mean the same thing
        out = scale_stored(ndvi, {"scale_factor": sf, "_FillValue": -3000}, divide=True)
        assert_allclose(out, [np.nan, 0.5, 1.0], rtol=1e-6)


def test_name_parts_come_from_the_one_grammar(tmp_path):
    name = modis_name(tmp_path / LST_NAME)
    assert (name.product, name.day.isoformat(), name.tile, name.tile_index) == (
        "MOD11A1", "2021-08-15", "h11v05", (11, 5),
    )  # fmt: skip
    with pytest.raises(GranuleFormatError, match=r"not an official MODIS file name \(PRODUCT\.AYYYYDDD"):
        modis_name(tmp_path / "MOD11A1.hdf")
    with pytest.raises(GranuleFormatError, match="not an official MODIS file name"):
        read_modis(tmp_path / "lst_tile.hdf")


# ---------------------------------------------------------------- real tiles


@pytest.mark.realdata
def test_real_lst_scaling_fill_and_qc(realdata):
    path = realdata / "MODIS" / LST_NAME
    ds = read_modis(path)
    assert ds["lst_day"].shape == (1200, 1200)
    assert ds["lst_day"].attrs["units"] == "K"
    raw, qc = _raw(path, "LST_Day_1km"), _raw(path, "QC_Day")
    valid = np.isfinite(ds["lst_day"].values)
    assert 0.01 < valid.mean() < 0.10  # the sample is mostly cloud and fill (~4% valid)
    assert_allclose(ds["lst_day"].values[valid], raw[valid] * 0.02, rtol=1e-6)
    assert not valid[raw == 0].any()  # fill
    mandatory, error = qc & 0b11, (qc >> 6) & 0b11
    assert not valid[mandatory >= 2].any()  # cloudy / not produced
    rejected_other = (mandatory == 1) & (error >= 2) & (raw > 0)
    assert rejected_other.sum() > 0  # the real tile has "other quality, error > 2 K" pixels ...
    assert not valid[rejected_other].any()  # ... and they are rejected
    kept = (raw > 0) & ((mandatory == 0) | ((mandatory == 1) & (error <= 1)))
    assert_array_equal(valid, kept)
    assert np.nanmin(ds["lst_night"].values) > 250 and np.nanmax(ds["lst_day"].values) < 340


@pytest.mark.realdata
def test_real_lst_tile_corners(realdata):
    ds = read_modis(realdata / "MODIS" / LST_NAME)
    ul_x = -20015109.355798 + 11 * 1111950.5197665
    ul_y = 10007554.677899 - 5 * 1111950.5197665
    transform = ds.rio.transform()
    assert_allclose((transform.c, transform.f), (ul_x, ul_y), atol=1e-3)
    assert_allclose((transform.a, -transform.e), (926.625433,) * 2, atol=1e-5)
    assert_allclose(ds.x.values[0], ul_x + 926.625433 / 2, atol=1e-3)
    # corner lon/lat: the sinusoidal sphere makes v05's top edge exactly 40 N
    to_lonlat = Transformer.from_crs(ds.rio.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(ul_x, ul_y)
    assert_allclose(lat, 40.0, atol=1e-6)
    assert_allclose(lon, np.degrees(ul_x / (SPHERE_RADIUS * np.cos(np.radians(40.0)))), atol=1e-6)
    lr_lon, lr_lat = to_lonlat.transform(ul_x + TILE_SIZE, ul_y - TILE_SIZE)
    assert_allclose(lr_lat, 30.0, atol=1e-6)
    assert_allclose(lr_lon, np.degrees((ul_x + TILE_SIZE) / (SPHERE_RADIUS * np.cos(np.radians(30.0)))))


@pytest.mark.realdata
def test_real_vi_divides_by_10000_and_applies_quality(realdata):
    path = realdata / "MODIS" / VI_NAME
    ds = read_modis(path)
    raw = _raw(path, "1 km 16 days NDVI")
    quality, reliability = _raw(path, "1 km 16 days VI Quality"), _raw(path, "1 km 16 days pixel reliability")
    valid = np.isfinite(ds["ndvi"].values)
    assert valid.sum() > 1000
    assert_allclose(ds["ndvi"].values[valid], raw[valid] / 10000.0, rtol=1e-6)
    assert not valid[raw == -3000].any()
    assert not valid[np.isin(reliability, [2, 3, -1])].any()
    assert not valid[(quality & 0b11) >= 2].any()
    assert np.nanmax(ds["evi"].values) <= 1.0 and np.nanmin(ds["ndvi"].values) >= -0.2
    assert ds.attrs["tile"] == "h11v06" and ds.attrs["day"] == "2021-08-13"


@pytest.mark.realdata
def test_real_albedo_500m_scaling_and_mandatory_quality(realdata):
    path = realdata / "MODIS" / ALBEDO_NAME
    ds = read_modis(path)
    assert ds["albedo_bsa"].shape == (2400, 2400)
    assert_allclose(ds.rio.transform().a, 463.312716525, atol=1e-6)
    raw, quality = (
        _raw(path, "Albedo_WSA_shortwave"),
        _raw(path, "BRDF_Albedo_Band_Mandatory_Quality_shortwave"),
    )
    valid = np.isfinite(ds["albedo_wsa"].values)
    assert valid.sum() > 1000
    assert_allclose(ds["albedo_wsa"].values[valid], raw[valid] * 0.001, rtol=1e-6)
    assert not valid[raw == 32767].any()
    assert not valid[quality > 1].any()
    assert_allclose((ds.rio.transform().c, ds.rio.transform().f), (-3335851.559, 2223901.039), atol=1e-2)


# ---------------------------------------------------------------- errors


@pytest.mark.realdata
def test_tile_name_disagreeing_with_corners_is_a_format_error(realdata, tmp_path):
    wrong = tmp_path / LST_NAME.replace("h11v05", "h12v05")
    shutil.copy(realdata / "MODIS" / LST_NAME, wrong)
    with pytest.raises(GranuleFormatError, match="h12v05"):
        read_modis(wrong)


@pytest.mark.realdata
def test_truncated_tile_is_a_format_error(realdata, tmp_path):
    truncated = tmp_path / LST_NAME
    truncated.write_bytes((realdata / "MODIS" / LST_NAME).read_bytes()[:200_000])
    with pytest.raises(GranuleFormatError, match="HDF4"):
        read_modis(truncated)


def test_garbage_bytes_with_hdf_name_is_a_format_error(tmp_path):
    garbage = tmp_path / VI_NAME
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(GranuleFormatError) as info:
        read_modis(garbage)
    assert info.value.path == str(garbage)


def test_unknown_product_and_missing_file(tmp_path):
    with pytest.raises(GranuleFormatError, match="supported MODIS product"):
        read_modis(tmp_path / "MOD09GA.A2021227.h11v05.061.2021228105320.hdf")
    with pytest.raises(GranuleFormatError, match="does not exist"):
        read_modis(tmp_path / LST_NAME)


def test_missing_sds_is_named(tmp_path, modis_tile_writer):
    qc = np.zeros((12, 12), dtype=np.uint8)
    path = modis_tile_writer(tmp_path / LST_NAME, "MODIS_Grid_Daily_1km_LST", {"QC_Day": (qc, {})}, 11, 5)
    with pytest.raises(GranuleFormatError, match="LST_Day_1km"):
        read_modis(path)


# ---------------------------------------------------------------- synthetic tiles


def test_synthetic_landcover_keeps_igbp_classes(tmp_path, modis_tile_writer):
    classes = np.arange(144, dtype=np.uint8).reshape(12, 12) % 20  # 0, 18, 19 are not IGBP classes
    classes[0, 0] = 255
    name = "MCD12Q1.A2021001.h11v05.061.2022146024956.hdf"
    path = modis_tile_writer(tmp_path / name, "MCD12Q1", {"LC_Type1": (classes, {"_FillValue": 255})}, 11, 5)
    ds = read_modis(path)
    lc = ds["landcover"].values
    assert lc.dtype == np.int16
    expected = np.where((classes >= 1) & (classes <= 17), classes.astype(np.int16), np.int16(-1))
    assert_array_equal(lc, expected)
    assert lc[0, 0] == -1 and not np.any(lc == 255)  # the uint8 fill must not survive as a class
    assert ds["landcover"].rio.nodata == -1
    assert_allclose(ds.rio.transform().a, TILE_SIZE / 12)


def test_struct_metadata_parsing_is_pure(modis_tile_writer):
    from tests.unit.inputs.readers.conftest import struct_metadata

    (grid,) = parse_struct_metadata(struct_metadata("G", 3, 4, 10, ["A", "B"]))
    assert (grid.name, grid.xdim, grid.ydim, grid.fields) == ("G", 10, 10, ("A", "B"))
    assert_allclose(grid.res_x, TILE_SIZE / 10)
    assert_allclose(grid.y[0], 10007554.677899 - 4 * TILE_SIZE - TILE_SIZE / 20)


def test_missing_scale_factor_is_a_format_error(tmp_path, modis_tile_writer):
    lst = np.full((12, 12), 15000, dtype=np.uint16)
    qc = np.zeros((12, 12), dtype=np.uint8)
    fields = {"LST_Day_1km": (lst, {"_FillValue": 0}), "QC_Day": (qc, {})}
    fields |= {"LST_Night_1km": (lst, {"_FillValue": 0, "scale_factor": 0.02}), "QC_Night": (qc, {})}
    path = modis_tile_writer(tmp_path / LST_NAME, "MODIS_Grid_Daily_1km_LST", fields, 11, 5)
    with pytest.raises(GranuleFormatError, match="scale_factor"):
        read_modis(path)
    fields["LST_Day_1km"] = (lst, {"_FillValue": 0, "scale_factor": 0.02})
    ds = read_modis(modis_tile_writer(tmp_path / LST_NAME, "MODIS_Grid_Daily_1km_LST", fields, 11, 5))
    assert_allclose(ds["lst_day"].values, 300.0)


@pytest.mark.realdata
@pytest.mark.parametrize("name", [LST_NAME, VI_NAME])
def test_damaged_tiles_give_format_errors_only(realdata, tmp_path, name):
    """Truncated or overwritten bytes: the reader returns a tile or a GranuleFormatError, never crashes."""
    data = (realdata / "MODIS" / name).read_bytes()
    rng = np.random.default_rng(7)
    damaged = [data[: len(data) * k // 10] for k in range(1, 10)]
    for _ in range(12):
        start = int(rng.integers(0, len(data) - 4096))
        damaged.append(data[:start] + rng.bytes(4096) + data[start + 4096 :])
    outcomes = set()
    for i, content in enumerate(damaged):
        path = tmp_path / str(i) / name
        path.parent.mkdir()
        path.write_bytes(content)
        try:
            read_modis(path)
            outcomes.add("read")
        except GranuleFormatError:
            outcomes.add("format error")
    assert "format error" in outcomes


# ---------------------------------------------------------------- windowed reads (ingest)


def _region_at(h: int, v: int, fx: float, fy: float, half_deg: float = 0.6):
    """A 36 km region around the point at fraction (fx, fy) of tile hHHvVV (0, 0: upper left)."""
    from smprod.grids.ease import region_from_bbox
    from smprod.inputs.readers.hdfeos import sinusoidal_crs, tile_upper_left

    x0, y0 = tile_upper_left(h, v)
    to_lonlat = Transformer.from_crs(sinusoidal_crs(), "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(x0 + fx * TILE_SIZE, y0 - fy * TILE_SIZE)
    return region_from_bbox((lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg), 36)


#: Points of a tile the windowed read is checked at: inside, on each edge, at a corner.
TILE_POINTS = [(0.5, 0.5), (0.0, 0.5), (1.0, 0.4), (0.5, 0.0), (0.4, 1.0), (1.0, 1.0)]


def _whole_and_windowed(path: Path, region, method: str = "average"):
    from smprod.grids.reproject import fields_to_fine, to_fine
    from smprod.inputs.readers.modis import read_modis_window

    whole = to_fine(read_modis(path), region, method)
    native = read_modis_window(path, region.fine)
    windowed = fields_to_fine(native, region, method)
    return {name: whole[name].values for name in whole.data_vars}, native, windowed


@pytest.mark.realdata
@pytest.mark.parametrize("name", [LST_NAME, VI_NAME, ALBEDO_NAME])
def test_windowed_real_tile_warps_to_the_same_pixels_as_the_whole_tile(realdata, name):
    """Inside the tile, across each edge and at a corner: the window's warp is the whole tile's,
    pixel for pixel (NaN where NaN), and only a window of the tile was read."""
    path = realdata / "MODIS" / name
    h, v = modis_name(path).tile_index
    first = read_modis(path)
    rows, cols = np.nonzero(np.isfinite(first[next(iter(first.data_vars))].values))
    ydim, xdim = first.sizes["y"], first.sizes["x"]
    # the samples are mostly fill: one region where their valid pixels are
    valid_point = (float(np.median(cols)) / xdim, float(np.median(rows)) / ydim)
    finite = 0
    for fx, fy in [*TILE_POINTS, valid_point]:
        region = _region_at(h, v, fx, fy)
        whole, native, windowed = _whole_and_windowed(path, region)
        assert set(windowed) == set(whole)
        for var, values in whole.items():
            assert windowed[var].dtype == values.dtype
            assert np.array_equal(windowed[var], values, equal_nan=True), (name, fx, fy, var)
            finite += int(np.isfinite(values).sum())
        rows_read, cols_read = next(iter(native.values.values())).shape
        assert rows_read < ydim and cols_read < xdim
    assert finite > 0  # the comparison saw valid pixels, not only fill


def _lst_tile(tmp_path: Path, writer, h: int, v: int, seed: int) -> Path:
    """A full-size (1200 x 1200) synthetic MOD11A1 tile: smooth LST, random QC, some fill."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:1200, 0:1200]
    lst = (14000 + 10 * xx + 3 * yy + rng.integers(0, 50, (1200, 1200))).astype(np.uint16)
    lst[rng.random((1200, 1200)) < 0.05] = 0
    qc = rng.choice(np.array([0b00, 0b01, 0b01_000001, 0b10], dtype=np.uint8), (1200, 1200))
    attrs = {"_FillValue": 0, "valid_range": [7500, 65535], "scale_factor": 0.02, "add_offset": 0.0}
    fields = {"LST_Day_1km": (lst, attrs), "QC_Day": (qc, {})}
    fields |= {"LST_Night_1km": (lst - np.uint16(500) * (lst > 0), attrs), "QC_Night": (qc[::-1].copy(), {})}
    name = f"MOD11A1.A2024160.h{h:02d}v{v:02d}.061.2024161000000.hdf"
    (tmp_path / f"{h}").mkdir()
    return writer(tmp_path / f"{h}" / name, "MODIS_Grid_Daily_1km_LST", fields, h, v)


def test_windowed_reads_of_a_region_spanning_two_tiles_mosaic_as_the_whole_tiles(tmp_path, modis_tile_writer):
    """The test suite's small region lies across h09v05 and h10v05: each tile's windowed warp
    equals its whole warp, so the mosaic does too."""
    from smprod.grids.ease import region_from_bbox
    from smprod.grids.reproject import mosaic

    region = region_from_bbox((-98.0, 35.0, -96.8, 35.7), 36)
    tiles = [_lst_tile(tmp_path, modis_tile_writer, h, 5, seed) for seed, h in enumerate((9, 10))]
    results = [_whole_and_windowed(path, region) for path in tiles]
    for whole, _, windowed in results:
        for var in whole:
            assert np.array_equal(windowed[var], whole[var], equal_nan=True), var
    for var in ("lst_day", "lst_night"):
        merged = mosaic([whole[var] for whole, _, _ in results])
        assert np.array_equal(mosaic([w[var] for _, _, w in results]), merged, equal_nan=True)
        assert np.isfinite(merged).mean() > 0.5  # both tiles contribute valid pixels


def test_windowed_landcover_keeps_nodata_and_mode(tmp_path, modis_tile_writer):
    from smprod.grids.ease import region_from_bbox

    rng = np.random.default_rng(3)
    classes = rng.integers(0, 20, (2400, 2400)).astype(np.uint8)
    name = "MCD12Q1.A2024001.h10v05.061.2024002000000.hdf"
    path = modis_tile_writer(tmp_path / name, "MCD12Q1", {"LC_Type1": (classes, {"_FillValue": 255})}, 10, 5)
    region = region_from_bbox((-98.0, 35.0, -96.8, 35.7), 36)
    whole, native, windowed = _whole_and_windowed(path, region, "mode")
    assert native.nodata == {"landcover": -1}
    assert windowed["landcover"].dtype == np.int16
    assert np.array_equal(windowed["landcover"], whole["landcover"])


def test_windowed_read_fails_as_the_whole_read(tmp_path, modis_tile_writer):
    """Bad tiles give the whole read's error (grid, SDS, shape); a tile outside the region is
    refused as outside it, by the same check."""
    from smprod.errors import GranuleRegionError
    from smprod.grids.ease import region_from_bbox
    from smprod.grids.reproject import fields_to_fine, to_fine
    from smprod.inputs.readers.modis import read_modis_window

    region = region_from_bbox((-80.0, 35.0, -78.0, 37.0), 36)  # inside h11v05
    lst = np.full((12, 12), 15000, dtype=np.uint16)
    qc = np.zeros((12, 12), dtype=np.uint8)
    attrs = {"_FillValue": 0, "scale_factor": 0.02}
    good = {"LST_Day_1km": (lst, attrs), "QC_Day": (qc, {})}
    good |= {"LST_Night_1km": (lst, attrs), "QC_Night": (qc, {})}
    cases = {
        "wrong corners": (LST_NAME.replace("h11v05", "h12v05"), good, 11),
        "missing SDS": (LST_NAME, {k: good[k] for k in ("QC_Day", "LST_Night_1km", "QC_Night")}, 11),
        "other shape": (LST_NAME, {**good, "QC_Night": (np.zeros((6, 6), dtype=np.uint8), {})}, 11),
    }
    for case, (name, fields, h) in cases.items():
        folder = tmp_path / case.replace(" ", "-")
        folder.mkdir()
        path = modis_tile_writer(folder / name, "MODIS_Grid_Daily_1km_LST", fields, h, 5)
        with pytest.raises((GranuleFormatError, ValueError)) as whole:
            read_modis(path)
        with pytest.raises(type(whole.value)) as windowed:
            read_modis_window(path, region.fine)
        assert str(windowed.value) == str(whole.value), case
    path = modis_tile_writer(tmp_path / LST_NAME, "MODIS_Grid_Daily_1km_LST", good, 11, 5)
    far = region_from_bbox((10.0, 45.0, 11.0, 46.0), 36)
    with pytest.raises(GranuleRegionError) as whole:
        to_fine(read_modis(path), far)
    with pytest.raises(GranuleRegionError) as windowed:
        fields_to_fine(read_modis_window(path, far.fine), far)
    assert str(windowed.value) == str(whole.value)
