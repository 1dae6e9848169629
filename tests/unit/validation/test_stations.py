"""What validation keeps of ISMN files: surface sensors, good-flag UTC daily means, discovery."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.inputs.readers.ismn import read_stm
from smprod.validation.stations import daily_means, find_station_files, no_good_value_reason, station_key

HEADER = "XX NET My Station 36.00000 -97.00000 300.00 0.05 0.05 Hydra Probe II"


def test_daily_means_keep_only_good_flags_and_split_at_utc_midnight(tmp_path):
    # CR, LF-CR and CRLF line ends mixed, as in real ISMN downloads; missing provider flag.
    path = tmp_path / "f.stm"
    path.write_bytes(
        (
            HEADER + "\n\r"
            "2020/05/01 00:00   0.2000 G M\r"
            "2020/05/01 12:00   0.3000 G M\r\n"
            "2020/05/01 13:00   0.9000 D03 M\r\n"
            "2020/05/01 23:00   0.2500 G\n"
            "2020/05/02 00:00   0.1000 G M\r"
            "2020/05/03 00:00   0.1000 U M\r"
        ).encode()
    )
    series = read_stm(path)
    assert station_key(series.station) == "NET/My Station/Hydra Probe II/0.05-0.05"
    daily = daily_means(series)
    assert list(daily.index) == [date(2020, 5, 1), date(2020, 5, 2)]
    assert_allclose(daily["sm"].to_numpy(), [(0.2 + 0.3 + 0.25) / 3, 0.1], atol=1e-12)
    assert list(daily["n_obs"]) == [3, 1]


@pytest.mark.realdata
def test_real_ismn_files(realdata):
    folder = realdata / "ISMN" / "header_values"
    cosmos_path = next(folder.glob("COSMOS_*.stm"))
    cosmos = read_stm(cosmos_path)
    assert station_key(cosmos.station) == "COSMOS/ARM-1/Cosmic-ray-Probe/0.00-0.19"
    # Independent of any parser: split the raw lines ourselves.
    raw = cosmos_path.read_bytes().decode().splitlines()
    records = [line.split() for line in raw[1:] if line.strip()]
    good = [r for r in records if r[3] == "G"]
    daily = daily_means(cosmos)
    assert int(daily["n_obs"].sum()) == len(good) == 6514
    first_day = [float(r[2]) for r in good if r[0] == "2017/08/10"]
    assert_allclose(daily.loc[date(2017, 8, 10), "sm"], np.mean(first_day), rtol=1e-12)
    assert daily.index[0] == date(2017, 8, 10) and daily.index[-1] == date(2018, 8, 9)
    # The other two samples carry no G flag (U = unchecked, D = dubious): no daily value at all.
    for name in ("SMOSMANIA_*.stm", "SOILSCAPE_*.stm"):
        assert daily_means(read_stm(next(folder.glob(name)))).empty


def test_station_files_are_found_only_below_insitu_folders(tmp_path):
    wanted = tmp_path / "a" / "insitu" / "NET" / "x.stm"
    wanted.parent.mkdir(parents=True)
    wanted.write_text(HEADER)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "y.stm").write_text(HEADER)
    (tmp_path / "insitu").mkdir()
    top = tmp_path / "insitu" / "z.stm"
    top.write_text(HEADER)
    assert find_station_files(tmp_path) == sorted([wanted, top])


def test_redundant_ceop_sep_sensors_at_one_depth_get_their_own_station_keys(tmp_path):
    # ceop_sep lines carry no sensor: without the file name's, both keys were "NET/.../ /0.05-0.05".
    meta = "USCRN      USCRN           Stillwater-2-W    36.11830   -97.09100  -99.90    0.05    0.05"
    keys = []
    for sensor in ("Stevens-Hydraprobe-II-Sdi-12_1_1", "Stevens-Hydraprobe-II-Sdi-12_2_1"):
        path = tmp_path / f"USCRN_USCRN_Stillwater-2-W_sm_0.050000_0.050000_{sensor}_20200601_20200601.stm"
        path.write_text(f"2020/06/01 00:00 2020/06/01 00:00 {meta}   0.2100 G M\n")
        keys.append(station_key(read_stm(path).station))
    assert keys == [
        "USCRN/Stillwater-2-W/Stevens-Hydraprobe-II-Sdi-12_1_1/0.05-0.05",
        "USCRN/Stillwater-2-W/Stevens-Hydraprobe-II-Sdi-12_2_1/0.05-0.05",
    ]


def test_a_file_without_good_values_is_skipped_with_its_reason(tmp_path):
    path = (
        tmp_path / "SMOSMANIA_SMOSMANIA_Narbonne_sm_0.050000_0.050000_ThetaProbe-ML2X_20070101_20070101.stm"
    )
    header = "SMOSMANIA  SMOSMANIA       Narbonne          43.15000     2.95670  112.00    0.05    0.05"
    path.write_text(
        f"{header} ThetaProbe-ML2X\n2007/01/01 01:00   0.2140 U M\n2007/01/01 02:00   0.2140 D05 M\n"
        "2007/01/01 03:00      nan G M\n"  # a G flag on a missing value is no good value either
    )
    series = read_stm(path)
    assert daily_means(series).empty
    reason = no_good_value_reason(series)
    assert reason is not None and "among 3 records" in reason and "flags: D05, G, U" in reason
    good = tmp_path / "g.stm"
    good.write_text(f"{header} ThetaProbe-ML2X\n2007/01/01 01:00   0.2140 G M\n")
    assert no_good_value_reason(read_stm(good)) is None


@pytest.mark.realdata
def test_real_files_without_g_flags_are_reported(realdata):
    folder = realdata / "ISMN" / "header_values"
    for name in ("SMOSMANIA_*.stm", "SOILSCAPE_*.stm"):
        path = next(folder.glob(name))
        records = [line.split() for line in path.read_bytes().decode().splitlines()[1:] if line.strip()]
        flags = sorted({r[3] for r in records})  # split independently of the reader
        assert "G" not in flags
        reason = no_good_value_reason(read_stm(path))
        assert reason is not None and f"among {len(records)} records (flags: {', '.join(flags)})" in reason
    assert no_good_value_reason(read_stm(next(folder.glob("COSMOS_*.stm")))) is None
