"""SMAP L3 reader: QC and AM/PM averaging on files with the real structure; real metadata and coordinates."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smprod.errors import GranuleFormatError, GridError
from smprod.grids.ease import EaseGrid, region_from_bbox
from smprod.inputs.dayfiles import mean_valid
from smprod.inputs.readers import smap
from smprod.inputs.readers.smap import quality_mask, read_smap_l3, smap_name

NAME_36 = "SMAP_L3_SM_P_20150410_R19240_001.h5"
NAME_9 = "SMAP_L3_SM_P_E_20150410_R19240_002.h5"
FILL = -9999.0


def _globe(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


@pytest.fixture
def qc_granule(tmp_path, smap_writer):
    """A 36 km granule where row 100 holds one case per column (AM, PM, expected daily value)."""
    shape = (406, 964)
    sm_am, sm_pm = _globe(shape, FILL, np.float32), _globe(shape, FILL, np.float32)
    fl_am, fl_pm = _globe(shape, 65534, np.uint16), _globe(shape, 65534, np.uint16)
    cases = [
        # (am value, am flag, pm value, pm flag)
        (0.20, 0, 0.30, 0),  # both recommended -> mean
        (0.20, 0, 0.30, 1),  # PM not recommended (bit 0) -> AM
        (0.20, 1, 0.30, 8),  # AM not recommended; PM flag bit 3 only (F/T) -> PM kept
        (0.20, 65534, 0.35, 2),  # AM flag fill; PM bit 1 set but bit 0 clear -> PM kept
        (FILL, 0, 0.60, 0),  # AM fill; PM out of valid range -> NaN
        (0.01, 0, 0.25, 5),  # AM below valid_min; PM bits 0 and 2 -> NaN
        (0.50, 0, 0.02, 0),  # both on the valid-range limits -> kept
    ]
    for col, (a, fa, p, fp) in enumerate(cases):
        sm_am[100, col], fl_am[100, col], sm_pm[100, col], fl_pm[100, col] = a, fa, p, fp
    return smap_writer(tmp_path / NAME_36, shape, (sm_am, fl_am), (sm_pm, fl_pm))


def test_quality_and_am_pm_mean(qc_granule):
    ds = read_smap_l3(qc_granule)
    row = 100
    assert_allclose(ds["sm"].values[row, :7], [0.25, 0.20, 0.30, 0.35, np.nan, np.nan, 0.26], rtol=1e-6)
    assert_allclose(ds["sm_am"].values[row, :7], [0.2, 0.2, np.nan, np.nan, np.nan, np.nan, 0.5], rtol=1e-6)
    assert_allclose(ds["sm_pm"].values[row, :7], [0.3, np.nan, 0.3, 0.35, np.nan, np.nan, 0.02], rtol=1e-6)
    assert np.isfinite(ds["sm"].values).sum() == 5  # nothing else in the globe is valid
    assert ds["sm"].dtype == np.float32 and ds["sm"].attrs["units"] == "m3/m3"
    assert ds.attrs["product"] == "SPL3SMP" and ds.attrs["grid_km"] == 36
    assert ds.attrs["release"] == "R19240_001" and ds.attrs["day"] == "2015-04-10"
    assert ds.rio.crs.to_epsg() == 6933


def test_coordinates_come_from_the_ease_grid(qc_granule):
    ds = read_smap_l3(qc_granule)
    assert_allclose(ds.x.values, EaseGrid(36).xy(0, np.arange(964))[0])
    assert_allclose(ds.y.values, EaseGrid(36).xy(np.arange(406), 0)[1])


def test_window_read_equals_slice_of_globe(qc_granule):
    region = region_from_bbox((-20.0, 20.0, 10.0, 40.0), coarse_km=36)
    full = read_smap_l3(qc_granule)
    part = read_smap_l3(qc_granule, window=region.coarse)
    rows, cols = region.coarse.to_global()
    assert part["sm"].shape == region.coarse.shape
    assert_array_equal(part["sm"].values, full["sm"].values[rows, cols])
    assert_allclose(part.x.values, region.coarse.x)
    assert_allclose(part.y.values, region.coarse.y)
    with pytest.raises(GridError):
        read_smap_l3(qc_granule, window=region.fine)  # 1 km does not nest in a 36 km file


def test_9km_grid_from_shape_and_36km_window(tmp_path, smap_writer):
    shape = (1624, 3856)
    sm = _globe(shape, FILL, np.float32)
    flag = _globe(shape, 65534, np.uint16)
    region = region_from_bbox((-98.0, 35.0, -97.0, 36.0), coarse_km=36)
    r9 = region.coarse.refine(9)
    sm[r9.row0, r9.col0], flag[r9.row0, r9.col0] = 0.3, 0
    path = smap_writer(tmp_path / NAME_9, shape, (sm, flag), (sm, flag))
    ds = read_smap_l3(path, window=region.coarse)
    assert ds.attrs["product"] == "SPL3SMP_E" and ds.attrs["grid_km"] == 9
    assert ds["sm"].shape == r9.shape
    assert_allclose(ds["sm"].values[0, 0], 0.3, rtol=1e-6)
    assert np.isfinite(ds["sm"].values).sum() == 1


def test_release_falls_back_to_metadata(tmp_path, smap_writer, qc_granule):
    renamed = tmp_path / "some_copy.h5"
    renamed.write_bytes(qc_granule.read_bytes())
    assert read_smap_l3(renamed).attrs["release"] == "R18290"
    assert smap_name("SMAP_L3_SM_P_E_20200101_R19240_002.h5").release_id == "R19240_002"
    assert smap_name("some_copy.h5") is None


def test_pure_helpers():
    sm = np.array([0.1, 0.1, -9999.0, 0.7, 0.1])
    flag = np.array([0, 1, 0, 0, 65534])
    assert_array_equal(quality_mask(sm, flag, (0.02, 0.5)), [True, False, False, False, False])
    assert_allclose(
        mean_valid([np.array([0.1, np.nan, np.nan]), np.array([0.3, 0.2, np.nan])]), [0.2, 0.2, np.nan]
    )


# ---------------------------------------------------------------- errors


def test_truncated_hdf5_is_a_format_error(qc_granule, tmp_path):
    truncated = tmp_path / ("t_" + NAME_36)
    truncated.write_bytes(qc_granule.read_bytes()[:50_000])
    with pytest.raises(GranuleFormatError) as info:
        read_smap_l3(truncated)
    assert info.value.path == str(truncated)


def test_garbage_and_missing_pm_group(tmp_path):
    garbage = tmp_path / NAME_36
    garbage.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(GranuleFormatError, match="HDF5"):
        read_smap_l3(garbage)
    no_pm = tmp_path / "SMAP_L3_SM_P_20150411_R19240_001.h5"
    with h5py.File(no_pm, "w") as f:
        g = f.create_group("Soil_Moisture_Retrieval_Data_AM")
        g.create_dataset("soil_moisture", data=np.zeros((406, 964), np.float32))
        g.create_dataset("retrieval_qual_flag", data=np.zeros((406, 964), np.uint16))
    with pytest.raises(GranuleFormatError, match="soil_moisture_pm"):
        read_smap_l3(no_pm)
    odd = tmp_path / "SMAP_L3_SM_P_20150412_R19240_001.h5"
    with h5py.File(odd, "w") as f:
        f.create_dataset("Soil_Moisture_Retrieval_Data_AM/soil_moisture", data=np.zeros((10, 10), np.float32))
    with pytest.raises(GranuleFormatError, match="EASE-Grid"):
        read_smap_l3(odd)


# ---------------------------------------------------------------- real metadata and coordinates

_NS = {"d": "http://xml.opendap.org/ns/DAP/4.0#"}


def _dmr_variable(root, group: str, name: str):
    for element in root.find(f"d:Group[@name='{group}']", _NS):
        if element.get("name") == name:
            attrs = {
                a.get("name"): a.findtext("d:Value", namespaces=_NS)
                for a in element.findall("d:Attribute", _NS)
            }
            dims = [int(d.get("size")) for d in element.findall("d:Dim", _NS)]
            return element.tag.split("}")[1], dims, attrs
    raise AssertionError(f"{group}/{name} not in the DMR")


@pytest.mark.realdata
def test_reader_constants_match_the_real_product_metadata(realdata):
    root = ET.parse(realdata / "SPL3SMP" / "SC_SPL3SMP_008.dmr").getroot()
    for group, sfx in smap.PASSES.values():
        kind, dims, attrs = _dmr_variable(root, group, smap.SOIL_MOISTURE + sfx)
        assert kind == "Float32" and tuple(dims) == (406, 964)
        assert float(attrs["_FillValue"]) == smap.FILL_FLOAT
        assert_allclose((float(attrs["valid_min"]), float(attrs["valid_max"])), smap.DEFAULT_VALID_RANGE)
        kind, dims, attrs = _dmr_variable(root, group, smap.QUALITY_FLAG + sfx)
        assert kind == "UInt16" and int(attrs["_FillValue"]) == smap.FILL_FLAG
        assert attrs["flag_masks"].startswith("1s") and attrs["flag_meanings"].startswith(
            "Retrieval_recommended"
        )
    assert smap.SHAPE_GRID[(406, 964)] == (36, "SPL3SMP")


@pytest.mark.realdata
def test_real_coordinate_arrays_line_up_with_the_grid(realdata):
    grid = EaseGrid(36)
    with h5py.File(realdata / "SPL3SMP" / "SC_SPL3SMP_009_prefetch.nc4", "r") as f:
        for group, sfx in smap.PASSES.values():
            lat = f[f"{group}/latitude{sfx}"][...]
            lon = f[f"{group}/longitude{sfx}"][...]
            assert lat.shape == grid.shape
            rows, cols = np.nonzero(lat != -9999.0)
            assert rows.size > 100_000  # about half the globe has land retrievals
            glon, glat = grid.lonlat(rows, cols)
            assert_allclose(lat[rows, cols], glat, atol=1e-3)
            assert_allclose(lon[rows, cols], glon, atol=1e-3)


def test_damaged_granules_give_format_errors_only(qc_granule, tmp_path):
    data = qc_granule.read_bytes()
    rng = np.random.default_rng(11)
    damaged = [data[: len(data) * k // 10] for k in range(1, 10)]
    damaged += [data[:s] + rng.bytes(2048) + data[s + 2048 :] for s in rng.integers(0, 4096, 5).tolist()]
    errors = 0
    for i, content in enumerate(damaged):
        path = tmp_path / str(i) / NAME_36
        path.parent.mkdir()
        path.write_bytes(content)
        try:
            read_smap_l3(path)
        except GranuleFormatError:
            errors += 1
    assert errors >= 9  # every truncation is detected; overwritten metadata mostly too
