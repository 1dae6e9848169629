"""The synthetic archive follows the archive contract and reads back with the real readers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from smprod.grids.regrid import block_mean
from smprod.inputs.readers.imerg import read_imerg
from smprod.inputs.readers.modis import read_modis
from smprod.inputs.readers.smap import read_smap_l3
from smprod.synthetic.archive import write_archive

ROOT = Path(__file__).resolve().parents[2]
BBOX = (-98.0, 35.0, -97.0, 35.7)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    report = write_archive(out, date(2024, 5, 1), 4, BBOX, 36, seed=3)
    return out, report


def test_independent_checker_finds_no_problem(archive, shared_tools):
    out, _ = archive
    result = subprocess.run(
        [sys.executable, str(shared_tools / "check_archive.py"), str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    assert "problems=0" in result.stdout


def test_cli_writes_the_same_archive_for_the_same_seed(archive, tmp_path):
    out, _ = archive
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "synth",
        "--out",
        str(tmp_path / "again"),
        "--start",
        "2024-05-01",
        "--days",
        "4",
        "--bbox",
        ",".join(map(str, BBOX)),
        "--seed",
        "3",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("smap/SMAP_L3_SM_P_20240503_R19240_001.h5", "truth/truth_20240502.tif"):
        first = hashlib.sha256((out / name).read_bytes()).hexdigest()
        second = hashlib.sha256((tmp_path / "again" / name).read_bytes()).hexdigest()
        assert first == second, name


def test_smap_is_the_noisy_coarse_mean_of_the_truth(archive):
    out, report = archive
    region = report.region
    diffs = []
    for day in range(1, 5):
        smap = read_smap_l3(
            out / "smap" / f"SMAP_L3_SM_P_202405{day:02d}_R19240_001.h5", window=region.coarse
        )
        with rasterio.open(out / "truth" / f"truth_202405{day:02d}.tif") as ds:
            truth = block_mean(ds.read(1), region.factor)
        diffs.append((smap["sm"].values - truth).ravel())
    diff = np.concatenate(diffs)
    diff = diff[np.isfinite(diff)]
    assert diff.size > 10
    # mean of AM and PM with 0.03 noise each: between 0.015 and 0.04 m3/m3 of error
    assert 0.012 < diff.std() < 0.045
    assert abs(diff.mean()) < 0.015


def test_modis_files_read_back_with_the_world_values(archive):
    out, _ = archive
    lst = read_modis(sorted((out / "modis" / "MOD11A1").glob("*.hdf"))[0])
    day = lst["lst_day"].values
    valid = day[np.isfinite(day)]
    assert valid.size > 1000 and 270 < valid.mean() < 330
    precip = read_imerg(next((out / "imerg").glob("3B-DAY.*.nc4")))
    assert precip.dims == ("y", "x")


def test_stations_and_static_layers_exist(archive):
    out, _ = archive
    stm = list((out / "insitu").rglob("*.stm"))
    assert len(stm) == 13  # 12 surface sensors + one deeper sensor the system must ignore
    assert any("_sm_0.100000_0.100000_" in p.name for p in stm)
    for name in ("elevation", "sand", "silt", "clay"):
        with rasterio.open(out / "static" / f"{name}.tif") as ds:
            assert ds.crs.to_epsg() == 4326  # deliberately not EASE-Grid 2.0


@pytest.mark.realdata
@pytest.mark.parametrize(
    "product, real_name, fields",
    [
        (
            "MOD11A1",
            "MOD11A1.A2021227.h11v05.061.2021228105320.hdf",
            ["LST_Day_1km", "LST_Night_1km", "QC_Day"],
        ),
        (
            "MOD13A2",
            "MOD13A2.A2021225.h11v06.061.2021320163717.hdf",
            ["1 km 16 days NDVI", "1 km 16 days EVI"],
        ),
        (
            "MCD43A3",
            "MCD43A3.A2017199.h15v07.006.2017208032853.hdf",
            ["Albedo_BSA_shortwave", "Albedo_WSA_shortwave"],
        ),
    ],
)
def test_modis_sds_match_the_real_tiles(archive, realdata, product, real_name, fields):
    from pyhdf.SD import SD

    out, _ = archive
    synthetic = SD(str(next((out / "modis" / product).glob("*.hdf"))))
    real = SD(str(realdata / "MODIS" / real_name))
    for name in fields:
        syn_ds, real_ds = synthetic.select(name), real.select(name)
        assert syn_ds.info()[1:4] == real_ds.info()[1:4], name  # rank, shape, number type
        assert syn_ds.getcompress() == real_ds.getcompress(), name  # DEFLATE and its level
        real_attrs, syn_attrs = real_ds.attributes(), syn_ds.attributes()
        for key in ("scale_factor", "add_offset", "_FillValue", "valid_range", "units"):
            if key in real_attrs and (key == "units" or not isinstance(real_attrs[key], str)):
                assert syn_attrs.get(key) == real_attrs.get(key), (name, key)
    assert "StructMetadata.0" in synthetic.attributes()


@pytest.mark.realdata
def test_smap_variables_match_the_real_dmr(archive, realdata):
    import re

    import h5py

    out, _ = archive
    dmr = (realdata / "SPL3SMP" / "SC_SPL3SMP_008.dmr").read_text()
    with h5py.File(next((out / "smap").glob("*.h5"))) as f:
        for group, suffix in (
            ("Soil_Moisture_Retrieval_Data_AM", ""),
            ("Soil_Moisture_Retrieval_Data_PM", "_pm"),
        ):
            for name, dap_type in (
                ("soil_moisture", "Float32"),
                ("retrieval_qual_flag", "UInt16"),
                ("latitude", "Float32"),
                ("longitude", "Float32"),
            ):
                assert re.search(rf'<{dap_type} name="{name}{suffix}">', dmr), name
                assert f[group][name + suffix].dtype == {"Float32": "float32", "UInt16": "uint16"}[dap_type]
            fill = f[group]["soil_moisture" + suffix].attrs["_FillValue"]
            assert float(fill) == -9999.0


def test_enhanced_smap_errors_are_smooth_over_the_radiometer_footprint(tmp_path):
    # SPL3SMP_E is interpolated to 9 km from ~33 km footprints: neighbouring 9 km cells share
    # most of their error (independent per-cell errors would correlate at about 0).
    report = write_archive(tmp_path, date(2024, 5, 1), 2, BBOX, 9, seed=4)
    region = report.region
    errors = []
    for day in (1, 2):
        smap = read_smap_l3(
            tmp_path / "smap" / f"SMAP_L3_SM_P_E_202405{day:02d}_R19240_001.h5", window=region.coarse
        )
        with rasterio.open(tmp_path / "truth" / f"truth_202405{day:02d}.tif") as ds:
            errors.append(smap["sm"].values - block_mean(ds.read(1), region.factor))
    pairs = np.concatenate([np.stack([e[:, :-1].ravel(), e[:, 1:].ravel()]) for e in errors], axis=1)
    pairs = pairs[:, np.isfinite(pairs).all(axis=0)]
    assert pairs.shape[1] > 30
    assert np.corrcoef(pairs)[0, 1] > 0.5
    assert 0.01 < np.nanstd(np.concatenate([e.ravel() for e in errors])) < 0.05


def _synth(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "flows.cli", "synth", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_cli_writes_a_suite_world_with_its_knobs(tmp_path):
    # a suite world's knobs on a small region and two days (its own region and dates are larger)
    result = _synth(
        "--out", str(tmp_path / "w"), "--world", "sierra-9", "--days", "2", "--bbox=-4.5,39,-4,39.4"
    )
    assert result.returncode == 0, result.stderr
    assert "world knobs:" in result.stdout and "'relief': 4.0" in result.stdout
    assert len(list((tmp_path / "w" / "smap").glob("SMAP_L3_SM_P_E_2025042*_R19240_001.h5"))) == 2


def test_cli_refuses_an_unknown_world_and_missing_dates(tmp_path):
    unknown = _synth("--out", str(tmp_path / "x"), "--world", "atlantis")
    assert unknown.returncode == 2 and "no suite world 'atlantis'" in unknown.stderr + unknown.stdout
    missing = _synth("--out", str(tmp_path / "x"), "--days", "2")
    assert missing.returncode == 2 and "--world NAME" in missing.stderr + missing.stdout
