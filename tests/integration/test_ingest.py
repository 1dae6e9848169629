"""Ingest of one day on a small archive in the real formats, with a real PostgreSQL ledger.

The archive is written here with the reader tests' writers (the real HDF5 / HDF4-EOS / netCDF-4
structures) at a small size: MODIS tiles of 120 x 120 pixels over the true tile corners, an
IMERG subset around the region, SMAP full global arrays. It holds the four kinds of bad granule
the ingest must survive: a truncated SMAP HDF5 (the newest release), a garbage MYD11A1 HDF4, an
IMERG file without a precipitation variable (the Late run), and a MOD11A1 tile of another region
(its corners are those of h20v03 while its name says h09v05).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import rasterio
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.transform import from_origin

from smprod import db
from smprod.errors import MissingInputError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import FINE_VARIABLES
from smprod.inputs.ingest import ingest_day
from smprod.inputs.ledger import REASON_SUFFIX, granule_rows
from smprod.inputs.sources import ArchiveSource
from smprod.layout import WorkLayout
from tests.unit.inputs.readers.conftest import write_modis_tile, write_smap_l3

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BBOX = (-97.5, 35.0, -97.3, 35.2)  # 2 x 2 cells of 36 km, across the h09v05/h10v05 boundary
REGION = region_from_bbox(BBOX, 36)
DAY = date(2024, 6, 10)  # DOY 162; the MOD13A2 composite starting DOY 161 covers it
N = 120  # MODIS pixels per tile side
LST = {"MOD11A1": 300.0, "MYD11A1": 310.0}
PRECIP = {0: 5.0, 1: 2.0, 2: 3.0}  # mm/day on D, D-1, D-2

TRUNCATED_SMAP = "SMAP_L3_SM_P_20240610_R19240_002.h5"
GOOD_SMAP = "SMAP_L3_SM_P_20240610_R19240_001.h5"
GARBAGE_HDF4 = "MYD11A1.A2024162.h10v05.061.2024163000000.hdf"
OTHER_REGION = "MOD11A1.A2024162.h09v05.061.2024163000000.hdf"
WRONG_VARIABLE = "3B-DAY-L.MS.MRG.3IMERG.20240610-S000000-E235959.V07B.nc4"


def _smap_value(back: int) -> tuple[float, float]:
    """AM and PM soil moisture written for day D-back (distinct per day, so lags are checkable)."""
    return 0.10 + 0.01 * back, 0.20 + 0.01 * back


def _write_smap(archive: Path, day: date, back: int, release: str = "R19240_001") -> Path:
    am, pm = _smap_value(back)
    shape = (406, 964)
    flags = np.zeros(shape, np.uint16)
    path = archive / "smap" / f"SMAP_L3_SM_P_{day:%Y%m%d}_{release}.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_smap_l3(path, shape, (np.full(shape, am), flags), (np.full(shape, pm), flags), release[:6])


def _modis_fields(product: str) -> tuple[str, dict]:
    u8, i16 = np.zeros((N, N), np.uint8), np.int16
    if product in LST:
        stored = np.full((N, N), round(LST[product] / 0.02), np.uint16)
        attrs = {"_FillValue": 0, "scale_factor": 0.02, "add_offset": 0.0}
        return "MODIS_Grid_Daily_1km_LST", {
            "LST_Day_1km": (stored, attrs), "QC_Day": (u8, {}),
            "LST_Night_1km": (stored - 500, attrs), "QC_Night": (u8, {}),
        }  # fmt: skip
    if product == "MOD13A2":
        vi = {"_FillValue": -3000, "scale_factor": 10000.0, "add_offset": 0.0}
        return "MODIS_Grid_16DAY_1km_VI", {
            "1 km 16 days NDVI": (np.full((N, N), 6000, i16), vi),
            "1 km 16 days EVI": (np.full((N, N), 4000, i16), vi),
            "1 km 16 days VI Quality": (np.zeros((N, N), np.uint16), {}),
            "1 km 16 days pixel reliability": (np.zeros((N, N), np.int8), {}),
        }
    if product == "MCD43A3":
        alb = {"_FillValue": 32767, "scale_factor": 0.001, "add_offset": 0.0}
        return "MOD_Grid_BRDF", {
            "Albedo_BSA_shortwave": (np.full((N, N), 150, i16), alb),
            "Albedo_WSA_shortwave": (np.full((N, N), 170, i16), alb),
            "BRDF_Albedo_Band_Mandatory_Quality_shortwave": (u8, {}),
        }
    return "MCD12Q1", {"LC_Type1": (np.full((N, N), 10, np.uint8), {"_FillValue": 255})}


def _write_modis(archive: Path, name: str, h: int, v: int) -> None:
    grid, fields = _modis_fields(name.split(".")[0])
    path = archive / "modis" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_modis_tile(path, grid, fields, h, v)


def _write_imerg(archive: Path, name: str, value: float, variable: str = "precipitation") -> None:
    lon = (-100.0 + (np.arange(50) + 0.5) * 0.1).astype(np.float32)
    lat = (33.0 + (np.arange(50) + 0.5) * 0.1).astype(np.float32)
    path = archive / "imerg" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w") as nc:
        for dim, values in (("time", [0]), ("lon", lon), ("lat", lat)):
            nc.createDimension(dim, len(values))
            nc.createVariable(dim, "f4" if dim != "time" else "i4", (dim,))[:] = values
        var = nc.createVariable(variable, "f4", ("time", "lon", "lat"), fill_value=np.float32(-9999.9))
        var.units = "mm/day"
        var[:] = np.full((1, lon.size, lat.size), value, np.float32)


def _write_static(archive: Path) -> None:
    (archive / "static").mkdir(parents=True, exist_ok=True)
    rows = np.arange(400, dtype=np.float32)[:, None]
    layers = {"elevation": 300.0 + rows + 0.0 * rows.T, "sand": 40.0, "silt": 35.0, "clay": 25.0}
    for name, value in layers.items():
        data = np.broadcast_to(np.asarray(value, np.float32), (400, 400)).copy()
        profile = {
            "driver": "GTiff", "width": 400, "height": 400, "count": 1, "dtype": "float32",
            "crs": "EPSG:4326", "transform": from_origin(-99.0, 37.0, 0.01, 0.01), "nodata": -9999.0,
        }  # fmt: skip
        with rasterio.open(archive / "static" / f"{name}.tif", "w", **profile) as dst:
            dst.write(data, 1)


@pytest.fixture
def archive(tmp_path) -> Path:
    root = tmp_path / "archive"
    for back in range(9):
        _write_smap(root, DAY - timedelta(days=back), back)
    truncated = _write_smap(root, DAY, 0, "R19240_002")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    for h in (9, 10):
        _write_modis(root, f"MYD11A1.A2024162.h{h:02d}v05.061.2024163000000.hdf", h, 5)
        _write_modis(root, f"MOD13A2.A2024161.h{h:02d}v05.061.2024180000000.hdf", h, 5)
        _write_modis(root, f"MCD43A3.A2024162.h{h:02d}v05.061.2024171000000.hdf", h, 5)
        _write_modis(root, f"MCD12Q1.A2023001.h{h:02d}v05.061.2024200000000.hdf", h, 5)
    _write_modis(root, "MOD11A1.A2024162.h10v05.061.2024163000000.hdf", 10, 5)
    _write_modis(root, OTHER_REGION, 20, 3)  # named h09v05, corners of h20v03
    (root / "modis" / GARBAGE_HDF4).write_bytes(np.random.default_rng(3).bytes(40_000))
    for back, value in PRECIP.items():
        ymd = f"{DAY - timedelta(days=back):%Y%m%d}"
        prefix = "3B-DAY-E" if back == 0 else "3B-DAY"
        _write_imerg(root, f"{prefix}.MS.MRG.3IMERG.{ymd}-S000000-E235959.V07B.nc4", value)
    _write_imerg(root, WRONG_VARIABLE, 99.0, variable="rain")
    _write_static(root)
    return root


def _ingest(archive, workdir, url):
    return ingest_day(
        DAY, REGION, "SPL3SMP", ArchiveSource(archive), WorkLayout(workdir), db.make_engine(url)
    )


def test_ingest_writes_the_contract_and_quarantines_bad_granules(archive, tmp_path, database_url):
    report = _ingest(archive, tmp_path / "work", database_url)
    assert report.quarantined.keys() == {TRUNCATED_SMAP, GARBAGE_HDF4, OTHER_REGION, WRONG_VARIABLE}
    assert (
        "HDF5" in report.quarantined[TRUNCATED_SMAP] or "cannot be read" in report.quarantined[TRUNCATED_SMAP]
    )
    assert "not a readable HDF4 file" in report.quarantined[GARBAGE_HDF4]
    assert "corners" in report.quarantined[OTHER_REGION] and "h09v05" in report.quarantined[OTHER_REGION]
    assert "no precipitation variable" in report.quarantined[WRONG_VARIABLE]
    assert (report.smap_release, report.precip_run) == ("R19240_001", "Early")

    fine, coarse = xr.open_dataset(report.fine), xr.open_dataset(report.coarse)
    assert report.fine == tmp_path / "work/inputs/2024/06/10/fine.nc"
    assert set(FINE_VARIABLES) <= set(fine.data_vars) and fine.sizes == {"y": 72, "x": 72}
    assert_allclose(fine.x.values, REGION.fine.x) and assert_allclose(fine.y.values, REGION.fine.y)
    assert coarse.sizes == {"y": 2, "x": 2}
    assert {"sm", "sm_am", "sm_pm", "sm_lag3", "sm_lag7", "lst_day", "landcover"} <= set(coarse.data_vars)
    am, pm = _smap_value(0)
    assert_allclose(coarse["sm"].values, (am + pm) / 2, rtol=1e-6)
    assert_allclose(coarse["sm_lag3"].values, np.mean(_smap_value(3)), rtol=1e-6)
    assert_allclose(coarse["sm_lag7"].values, np.mean(_smap_value(7)), rtol=1e-6)
    # h10v05 has only Terra (Aqua is garbage), h09v05 only Aqua (Terra is another region's tile).
    # Cells on the slanted tile boundary get both tiles' pixels: there Terra and Aqua are averaged.
    lst = fine["lst_day"].values
    values, counts = np.unique(lst[np.isfinite(lst)].round(3), return_counts=True)
    assert set(values) == {300.0, 305.0, 310.0} and counts[1] < 0.05 * lst.size
    assert_allclose(fine["ndvi"].values, 0.6, rtol=1e-6) and assert_allclose(
        fine["albedo_wsa"].values, 0.17, rtol=1e-5
    )
    assert_array_equal(np.unique(fine["landcover"].values), [10])
    assert_allclose(fine["precip"].values, PRECIP[0]) and assert_allclose(
        fine["precip_3d"].values, sum(PRECIP.values())
    )
    assert_allclose(fine["clay"].values, 25.0) and np.isfinite(fine["slope"].values).all()
    inputs = json.loads(fine.attrs["inputs"])
    assert inputs["SPL3SMP"][0] == GOOD_SMAP and len(inputs["SPL3SMP"]) == 9
    assert fine.attrs["day"] == "2024-06-10" and coarse.attrs["smap_release"] == "R19240_001"
    assert json.loads(fine.attrs["missing"]) == []

    rows = {r["granule_id"]: r for r in granule_rows(db.make_engine(database_url))}
    for name, reason in report.quarantined.items():
        assert (rows[name]["status"], rows[name]["reason"]) == ("quarantined", reason)
        assert (tmp_path / "work/quarantine" / (name + REASON_SUFFIX)).read_text().startswith(name)
        assert not list(archive.rglob(name))
    assert rows[GOOD_SMAP]["status"] == "used" and rows[GOOD_SMAP]["used_by"] == [DAY]
    assert sum(r["status"] == "used" for r in rows.values()) == sum(len(v) for v in inputs.values())


def test_rerun_is_idempotent(archive, tmp_path, database_url):
    first = _ingest(archive, tmp_path / "work", database_url)
    before = xr.load_dataset(first.coarse)
    n_rows = len(granule_rows(db.make_engine(database_url)))
    second = _ingest(archive, tmp_path / "work", database_url)
    assert second.quarantined == {} and second.inputs == first.inputs
    xr.testing.assert_identical(xr.load_dataset(second.coarse), before)
    assert len(granule_rows(db.make_engine(database_url))) == n_rows
    leftovers = [p.name for p in (tmp_path / "work/inputs/2024/06/10").iterdir()]
    assert sorted(leftovers) == ["coarse.nc", "fine.nc"]  # no temporaries


def test_an_unchanged_day_is_reused_and_a_new_granule_is_ingested(archive, tmp_path, database_url):
    first = _ingest(archive, tmp_path / "work", database_url)  # quarantines the four bad granules
    written = first.fine.stat().st_mtime_ns, first.coarse.stat().st_mtime_ns
    second = _ingest(archive, tmp_path / "work", database_url)
    assert second.reused and not first.reused
    assert (second.inputs, second.missing, second.smap_release, second.precip_run) == (
        first.inputs,
        first.missing,
        first.smap_release,
        first.precip_run,
    )
    assert (first.fine.stat().st_mtime_ns, first.coarse.stat().st_mtime_ns) == written  # not rewritten

    final = "3B-DAY.MS.MRG.3IMERG.20240610-S000000-E235959.V07B.nc4"
    _write_imerg(archive, final, PRECIP[0])  # a better run of D arrives
    third = _ingest(archive, tmp_path / "work", database_url)
    assert not third.reused and final in [n for names in third.inputs.values() for n in names]
    forced = ingest_day(
        DAY, REGION, "SPL3SMP", ArchiveSource(archive), WorkLayout(tmp_path / "work"),
        db.make_engine(database_url), force=True,
    )  # fmt: skip
    assert not forced.reused and forced.inputs == third.inputs


def test_a_changed_reader_ingests_anew_without_a_version_bump(archive, tmp_path, database_url, monkeypatch):
    import smprod.inputs.ingest

    _ingest(archive, tmp_path / "work", database_url)
    assert _ingest(archive, tmp_path / "work", database_url).reused
    digest = smprod.inputs.ingest.ingest_code_digest()
    assert len(digest) == 64 and digest == smprod.inputs.ingest.ingest_code_digest()
    monkeypatch.setattr(smprod.inputs.ingest, "ingest_code_digest", lambda: "a fixed reader")
    assert not _ingest(archive, tmp_path / "work", database_url).reused


def test_missing_smap_of_the_day_names_what_is_missing(archive, tmp_path, database_url):
    (archive / "smap" / GOOD_SMAP).unlink()
    with pytest.raises(MissingInputError, match=r"no valid SPL3SMP granule for 2024-06-10.*R19240_002"):
        _ingest(archive, tmp_path / "work", database_url)
    assert not (tmp_path / "work/inputs/2024/06/10/fine.nc").exists()
    for path in (archive / "smap").glob("SMAP_L3_SM_P_20240610_*"):
        path.unlink()
    with pytest.raises(MissingInputError, match="none found in the source"):
        _ingest(archive, tmp_path / "work", database_url)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SMPROD_")}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_ingest(archive, tmp_path, database_url):
    common = ["--date", "2024-06-10", "--archive", str(archive), "--bbox", ",".join(map(str, BBOX))]
    result = _cli("ingest", *common, "--workdir", str(tmp_path / "w"), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "ingested 2024-06-10" in result.stdout and f"quarantined {GARBAGE_HDF4}" in result.stdout
    assert (tmp_path / "w/inputs/2024/06/10/coarse.nc").is_file()
    assert not (tmp_path / "w/stack").exists()  # a given database: nothing embedded is started
    again = _cli("ingest", *common, "--workdir", str(tmp_path / "w"), "--database-url", database_url)
    assert "is current" in again.stdout and "quarantined" not in again.stdout
    forced = [*common, "--workdir", str(tmp_path / "w"), "--database-url", database_url, "--force"]
    assert "is current" not in _cli("ingest", *forced).stdout
    # without a database URL the ledger is the embedded stack's PostgreSQL, started on demand
    embedded = _cli("ingest", *common, "--workdir", str(tmp_path / "w2"))
    try:
        assert embedded.returncode == 0, embedded.stderr
        assert (tmp_path / "w2/inputs/2024/06/10/coarse.nc").is_file()
        assert (tmp_path / "w2/stack/postgres").is_dir()
    finally:
        _cli("stack", "down", "--workdir", str(tmp_path / "w2"))
