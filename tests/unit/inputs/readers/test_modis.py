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
