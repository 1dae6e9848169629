"""ISMN header + values parsing, good-flag daily means and file discovery."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.errors import GranuleFormatError
from smprod.validation.stations import daily_means, find_station_files, parse_header, parse_stm, read_stm

HEADER = (
    "XX         NET             My Station        36.00000   -97.00000  300.00    0.05    0.05 Hydra Probe II"
)


def test_header_with_spaces_in_station_and_sensor_names():
    meta = parse_header(HEADER, "f.stm")
    assert (meta.network, meta.station, meta.sensor) == ("NET", "My Station", "Hydra Probe II")
    assert_allclose([meta.lat, meta.lon, meta.elevation, meta.depth_from, meta.depth_to],
                    [36.0, -97.0, 300.0, 0.05, 0.05])  # fmt: skip
    assert meta.key == "NET/My Station/Hydra Probe II/0.05-0.05"


def test_daily_means_keep_only_good_flags_and_split_at_utc_midnight():
    # CR, LF-CR and CRLF line ends mixed, as in real ISMN downloads; missing provider flag.
    text = (
        HEADER + "\n\r"
        "2020/05/01 00:00   0.2000 G M\r"
        "2020/05/01 12:00   0.3000 G M\r\n"
        "2020/05/01 13:00   0.9000 D03 M\r\n"
        "2020/05/01 23:00   0.2500 G\n"
        "2020/05/02 00:00   0.1000 G M\r"
        "2020/05/03 00:00   0.1000 U M\r"
    )
    records = parse_stm(text, "f.stm")
    assert len(records.hourly) == 6
    daily = daily_means(records.hourly)
    assert list(daily.index) == [date(2020, 5, 1), date(2020, 5, 2)]
    assert_allclose(daily["sm"].to_numpy(), [(0.2 + 0.3 + 0.25) / 3, 0.1], atol=1e-12)
    assert list(daily["n_obs"]) == [3, 1]


@pytest.mark.parametrize(
    "text",
    ["", "not a header at all\n2020/05/01 00:00 0.2 G M", HEADER + "\n2020-05-01T00:00 0.2 G M"],
)
def test_malformed_files_raise_granule_format_error(text):
    with pytest.raises(GranuleFormatError, match=r"f\.stm"):
        parse_stm(text, "f.stm")


@pytest.mark.realdata
def test_real_ismn_files(realdata):
    folder = realdata / "ISMN" / "header_values"
    cosmos = read_stm(next(folder.glob("COSMOS_*.stm")))
    assert (cosmos.meta.network, cosmos.meta.station, cosmos.meta.sensor) == (
        "COSMOS",
        "ARM-1",
        "Cosmic-ray-Probe",
    )
    assert_allclose([cosmos.meta.lat, cosmos.meta.lon, cosmos.meta.depth_from, cosmos.meta.depth_to],
                    [36.6054, -97.4878, 0.0, 0.19])  # fmt: skip
    raw = next(folder.glob("COSMOS_*.stm")).read_bytes().decode().splitlines()
    records = [line.split() for line in raw[1:] if line.strip()]
    assert len(cosmos.hourly) == len(records)
    good = [float(r[2]) for r in records if r[3] == "G"]
    assert int((cosmos.hourly["flag"] == "G").sum()) == len(good)
    daily = daily_means(cosmos.hourly)
    assert int(daily["n_obs"].sum()) == len(good)
    first_day = [float(r[2]) for r in records if r[0] == "2017/08/10" and r[3] == "G"]
    assert_allclose(daily.loc[date(2017, 8, 10), "sm"], np.mean(first_day), rtol=1e-12)
    # The other two samples carry no G flag (U = unchecked, D = dubious): no daily value at all.
    for name in ("SMOSMANIA_*.stm", "SOILSCAPE_*.stm"):
        other = read_stm(next(folder.glob(name)))
        assert other.meta.depth_from == 0.05 and len(other.hourly) > 700
        assert daily_means(other.hourly).empty


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
