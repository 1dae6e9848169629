"""ISMN station files: the three real header + values files, and small files written here in the
real CEOP-separate and CEOP combined layouts (and the 2-inch depths of SCAN).

Data: International Soil Moisture Network (Dorigo et al. 2021), networks COSMOS, SMOSMANIA and
SOILSCAPE, via the TUW-GEO/ismn test data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from smprod.errors import GranuleFormatError
from smprod.inputs.readers.ismn import (
    MAX_SURFACE_DEPTH_M,
    SURFACE_DEPTH_TOLERANCE_M,
    IsmnStation,
    daily_means_utc,
    good_values,
    is_surface,
    parse_file_name,
    read_stm,
)

COSMOS = "COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm"
SMOSMANIA = "SMOSMANIA_SMOSMANIA_Narbonne_sm_0.050000_0.050000_ThetaProbe-ML2X_20070101_20070131.stm"
SOILSCAPE = "SOILSCAPE_SOILSCAPE_node505_sm_0.050000_0.050000_EC5_20070101_20131231.stm"


@pytest.fixture
def stm_dir(realdata):
    return realdata / "ISMN" / "header_values"


def _records(path):
    """Independent parse of the records: whitespace-split lines after the header that look like data."""
    rows = [line.split() for line in path.read_text().splitlines()[1:] if line.strip()]
    return rows


@pytest.mark.realdata
def test_cosmos_with_blank_second_line(stm_dir):
    series = read_stm(stm_dir / COSMOS)
    s = series.station
    assert (s.cse, s.network, s.station, s.sensor) == ("COSMOS", "COSMOS", "ARM-1", "Cosmic-ray-Probe")
    assert_allclose(
        (s.lat, s.lon, s.elevation, s.depth_from, s.depth_to), (36.6054, -97.4878, 322.0, 0.0, 0.19)
    )
    rows = _records(stm_dir / COSMOS)
    assert len(series.data) == len(rows) == 6865
    assert series.data.index[0] == pd.Timestamp("2017-08-10 00:00", tz="UTC")
    assert_allclose(series.data["value"].iloc[[0, -1]], [float(rows[0][2]), float(rows[-1][2])])
    assert (series.data["ismn_flag"] == "G").sum() == sum(r[3] == "G" for r in rows)
    assert set(series.data["ismn_flag"]) >= {"G", "D05", "D03,D05"}
    assert is_surface(s)


@pytest.mark.realdata
def test_cosmos_daily_means_use_good_values_only(stm_dir):
    series = read_stm(stm_dir / COSMOS)
    daily = daily_means_utc(good_values(series))
    rows = _records(stm_dir / COSMOS)
    for day in ("2017/08/10", "2018/02/01"):
        expected = [float(r[2]) for r in rows if r[0] == day and r[3] == "G"]
        got = daily.loc[pd.Timestamp(day.replace("/", "-"), tz="UTC")]
        assert_allclose(got, np.mean(expected))
    dubious_days = {r[0] for r in rows if r[3] != "G"} - {r[0] for r in rows if r[3] == "G"}
    for day in dubious_days:  # a day with no G record has no daily mean
        assert pd.Timestamp(day.replace("/", "-"), tz="UTC") not in daily.index


@pytest.mark.realdata
def test_smosmania_cr_line_endings_and_missing_provider_flag(stm_dir):
    series = read_stm(stm_dir / SMOSMANIA)
    assert series.station.station == "Narbonne" and series.station.sensor == "ThetaProbe-ML2X"
    assert_allclose((series.station.depth_from, series.station.depth_to), (0.05, 0.05))
    assert len(series.data) == 741
    assert series.data.loc[pd.Timestamp("2007-01-01 22:00", tz="UTC"), "provider_flag"] == ""
    assert series.data["ismn_flag"].value_counts().to_dict() == {"U": 736, "D05": 5}
    assert good_values(series).empty  # nothing is flagged G: nothing may be used
    assert is_surface(series.station)


@pytest.mark.realdata
def test_soilscape_values_and_flags(stm_dir):
    series = read_stm(stm_dir / SOILSCAPE)
    assert series.station.network == "SOILSCAPE" and series.station.sensor == "EC5"
    assert_allclose((series.station.lat, series.station.lon), (38.14956, -120.78559))
    assert series.data.index[0] == pd.Timestamp("2012-12-14 19:00", tz="UTC")
    assert_allclose(series.data["value"].iloc[0], 0.3166)
    assert set(series.data["provider_flag"]) == {"0"}
    assert series.data["value"].between(0, 1).all()


# ---------------------------------------------------------------- synthetic layouts


def test_header_with_spaces_in_station_and_sensor(tmp_path):
    path = tmp_path / "NET_NET_Big_Station_sm_0.100000_0.100000_Hydra Probe_20200101_20200102.stm"
    path.write_text(
        "NET        NET             Big Station       10.00000    20.00000  100.00    0.10    0.10 "
        "Hydra Probe II\n"
        "2020/01/01 00:00   0.2000 G M\n2020/01/01 12:00   0.3000 G M\n2020/01/02 00:00   0.5000 D01 M\n"
    )
    series = read_stm(path)
    assert series.station.station == "Big Station" and series.station.sensor == "Hydra Probe II"
    assert not is_surface(series.station)  # 0.10 m is deeper than 0.05 m
    daily = daily_means_utc(good_values(series))
    assert_allclose(daily.values, [0.25])


def test_ceop_sep_both_variants_read_the_same(tmp_path):
    meta = "CSE NET Station1 45.00 5.00 300.00 0.05 0.05"
    records = [
        ("2020/06/01", "00:00", "0.100", "G", "M"),
        ("2020/06/01", "23:00", "0.300", "G", "M"),
        ("2020/06/02", "01:00", "0.900", "C", "M"),
    ]
    short = tmp_path / "CSE_NET_Station1_sm_0.050000_0.050000_Sensor_20200601_20200602.stm"
    short.write_text("".join(f"{d} {t} {meta} {v} {f} {p}\n" for d, t, v, f, p in records))
    full = tmp_path / "CSE_NET_Station1_sm_0.050000_0.050000_Sensor_20200601_20200603.stm"
    full.write_text("".join(f"{d} {t} {d} {t} {meta} {v} {f} {p}\n" for d, t, v, f, p in records))
    a, b = read_stm(short), read_stm(full)
    assert a.layout == b.layout == "ceop_sep"
    assert a.station == b.station
    assert (a.station.station, a.station.lat, a.station.depth_from) == ("Station1", 45.0, 0.05)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert_allclose(daily_means_utc(good_values(a)).values, [0.2])


def test_malformed_files(tmp_path):
    bad_header = tmp_path / "x.stm"
    bad_header.write_text("this is not an ismn file\n2020/01/01 00:00 0.1 G M\n")
    with pytest.raises(GranuleFormatError, match="ISMN metadata line"):
        read_stm(bad_header)
    bad_record = tmp_path / "y.stm"
    bad_record.write_text("A B C 1.0 2.0 3.0 0.0 0.05 S\n2020/01/01 00:00 abc G M\n")
    with pytest.raises(GranuleFormatError, match="bad record"):
        read_stm(bad_record)
    with pytest.raises(GranuleFormatError):
        read_stm(tmp_path / "missing.stm")


# ---------------------------------------------------------------- layouts found on real downloads

# Fixed-width header as ISMN writes it (compare the real files in ../shared/realdata/ISMN).
SCAN_NAME = "SCAN_SCAN_AAMU-jtg_sm_0.050800_0.050800_Hydraprobe-Analog-(2.5-Volt)_20200101_20200102.stm"
SCAN_HEADER = (
    "SCAN       SCAN            AAMU-jtg          34.78000   -86.55000  183.00  0.0508  0.0508 "
    "Hydraprobe-Analog-(2.5-Volt)"
)


def _ceop_sep_line(stamp: str, meta: str, value: float, flag: str) -> str:
    """One CEOP-separate record: nominal and actual date/time, the metadata, value and flags."""
    return f"{stamp} {stamp} {meta} {value:8.4f} {flag} M"


def test_two_inch_sensors_of_scan_count_as_surface(tmp_path):
    # SCAN and USCRN install at 2 in; ISMN records 0.0508 m, 0.8 mm deeper than the 5 cm rule.
    path = tmp_path / SCAN_NAME
    path.write_text(SCAN_HEADER + "\n2020/01/01 00:00   0.2310 G M\n2020/01/01 01:00   0.2305 G M\n")
    series = read_stm(path)
    assert_allclose((series.station.depth_from, series.station.depth_to), (0.0508, 0.0508))
    assert series.station.sensor == "Hydraprobe-Analog-(2.5-Volt)"
    assert is_surface(series.station)


@pytest.mark.parametrize(
    ("depth_from", "surface"),
    [(0.0, True), (0.05, True), (0.0508, True), (0.06, False), (0.10, False), (0.1016, False)],
)
def test_surface_rule_keeps_nominal_five_cm_only(depth_from, surface):
    station = IsmnStation("SCAN", "SCAN", "AAMU-jtg", 34.78, -86.55, 183.0, depth_from, depth_from, "p")
    assert is_surface(station) is surface
    assert MAX_SURFACE_DEPTH_M + SURFACE_DEPTH_TOLERANCE_M < 0.06  # the tolerance lets no 6 cm in


def test_ceop_sep_takes_the_sensor_from_the_file_name_and_drops_the_elevation_placeholder(tmp_path):
    # Two redundant sensors at one depth (USCRN measures in triplicate); the lines name neither.
    meta = "USCRN      USCRN           Stillwater-2-W    36.11830   -97.09100  -99.90    0.05    0.05"
    sensors = ("Stevens-Hydraprobe-II-Sdi-12_1_1", "Stevens-Hydraprobe-II-Sdi-12_2_1")
    read = []
    for number, sensor in enumerate(sensors):
        path = tmp_path / f"USCRN_USCRN_Stillwater-2-W_sm_0.050000_0.050000_{sensor}_20200601_20200601.stm"
        lines = [_ceop_sep_line(f"2020/06/01 {h:02d}:00", meta, 0.21 + 0.01 * number, "G") for h in (0, 1)]
        path.write_bytes("\r".join(lines).encode())  # bare CR, as in real ceop_sep downloads
        read.append(read_stm(path))
    assert [s.layout for s in read] == ["ceop_sep", "ceop_sep"]
    assert [s.station.sensor for s in read] == list(sensors)
    assert all(s.station.elevation is None for s in read)  # -99.90 is ISMN's "unknown"
    assert_allclose([good_values(s).mean() for s in read], [0.21, 0.22])


def test_ceop_sep_under_a_name_that_is_not_ismn_s_is_refused(tmp_path):
    meta = "SMOSMANIA  SMOSMANIA       Narbonne          43.15000     2.95670  112.00    0.05    0.05"
    path = tmp_path / "narbonne.stm"
    path.write_text(_ceop_sep_line("2007/01/01 01:00", meta, 0.214, "U") + "\n")
    with pytest.raises(GranuleFormatError, match=r"narbonne\.stm: .*file name.*keep the name ISMN gave"):
        read_stm(path)


def test_ceop_combined_file_is_refused_with_the_download_option(tmp_path):
    # The ISMN "CEOP" layout: one file per station, every depth, soil temperature then moisture
    # (lines as in TUW-GEO/ismn tests/test_data/format_ceop, -999.99 = missing, bare CR).
    meta = "SMOSMANIA  SMOSMANIA       Narbonne          43.15000     2.95670  112.00 -"
    rows = [
        ("0.05", "11.00 U", "0.2252 U"),
        ("0.10", "12.20 U", "0.2913 U"),
        ("0.20", "-999.99 M", "0.2462 U"),
    ]
    lines = [f"2010/10/21 02:00 2010/10/21 02:00 {meta} {d:>6} {ts:>9} {sm:>10} " for d, ts, sm in rows]
    path = tmp_path / "SMOSMANIA_SMOSMANIA_NBN_20100304_20130801.stm"
    path.write_bytes("\r".join(lines).encode())
    with pytest.raises(GranuleFormatError) as info:
        read_stm(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "CEOP combined layout" in message and "not an ISMN metadata line" not in message
    assert "'Variables stored in separate files (Header+values)'" in message


@pytest.mark.parametrize(
    ("name", "sensor", "depths"),
    [
        (COSMOS, "Cosmic-ray-Probe", (0.0, 0.19)),
        ("RSMN_RSMN_Adamclisi_sm_0.000000_0.050000_Meter-5TM_1_1_19500101_20260512.stm", "Meter-5TM_1_1",
         (0.0, 0.05)),
        ("NET_NET_Big_Station_sm_0.100000_0.100000_Hydra Probe_20200101_20200102.stm", "Hydra Probe",
         (0.1, 0.1)),
        ("OZNET_OZNET_Widgiewa_sm_0.150000_0.150000_20010103_20090812.stm", "", (0.15, 0.15)),
    ],
)  # fmt: skip
def test_file_names_give_sensor_and_depths(name, sensor, depths):
    parts = parse_file_name(name)
    assert parts is not None and parts.sensor == sensor and parts.variable == "soil_moisture"
    assert_allclose((parts.depth_from, parts.depth_to), depths)


def test_names_outside_ismn_s_convention_give_nothing():
    assert parse_file_name("SMOSMANIA_SMOSMANIA_NBN_20100304_20130801.stm") is None  # CEOP combined
    assert parse_file_name("narbonne.stm") is None
