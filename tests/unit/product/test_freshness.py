"""Observation times of a day's inputs, per source, from the granule names, and the latency."""

from __future__ import annotations

from datetime import UTC, date, datetime

from smprod.product.freshness import input_times, latency_hours, newest_observation, record_times

DAY = date(2024, 6, 17)
#: The inputs of a real demo day's provenance (granule names as ingest records them).
INPUTS = {
    "GPM_3IMERGDF": [
        "3B-DAY.MS.MRG.3IMERG.20240615-S000000-E235959.V07B.nc4",
        "3B-DAY-L.MS.MRG.3IMERG.20240616-S000000-E235959.V07B.nc4",
        "3B-DAY-E.MS.MRG.3IMERG.20240617-S000000-E235959.V07B.nc4",
    ],
    "MCD12Q1": ["MCD12Q1.A2024001.h10v05.061.2024002000000.hdf"],
    "MCD43A3": ["MCD43A3.A2024169.h10v05.061.2024170000000.hdf"],
    "MOD11A1": [
        "MOD11A1.A2024169.h09v05.061.2024170000000.hdf",
        "MOD11A1.A2024169.h10v05.061.2024170000000.hdf",
    ],
    "MOD13A2": ["MOD13A2.A2024161.h10v05.061.2024162000000.hdf"],
    "SPL3SMP": [f"SMAP_L3_SM_P_202406{d:02d}_R19240_001.h5" for d in range(9, 18)],
}


def test_each_source_states_its_days_and_observation_period() -> None:
    times = input_times(INPUTS, DAY, ["2024-06-16", "2024-06-15"], ("AM", "PM"))
    assert times["SMAP"] == {
        "product": "SPL3SMP",
        "days": [f"2024-06-{d:02d}" for d in range(9, 18)],
        "release": "R19240_001",
        "passes": ["AM", "PM"],
        "start": "2024-06-09T00:00:00Z",
        "end": "2024-06-17T23:59:59Z",
    }
    assert times["IMERG"] == {
        "runs": {"2024-06-15": "Final", "2024-06-16": "Late", "2024-06-17": "Early"},
        "start": "2024-06-15T00:00:00Z",
        "end": "2024-06-17T23:59:59Z",
    }
    modis = times["MODIS"]
    assert modis["days"] == ["2024-06-17"]  # 2024 day 169 (LST and albedo)
    assert modis["gap_filling_days"] == ["2024-06-15", "2024-06-16"]
    assert modis["composites"] == {"MOD13A2": ["2024-06-09", "2024-06-24"]}  # 16 days from day 161
    assert modis["land_cover_year"] == 2024
    assert (modis["start"], modis["end"]) == ("2024-06-09T00:00:00Z", "2024-06-24T23:59:59Z")


def test_latency_runs_from_the_newest_observation_end() -> None:
    times = input_times({k: v for k, v in INPUTS.items() if k != "MOD13A2"}, DAY, ["2024-06-19"])
    assert newest_observation(times) == datetime(2024, 6, 19, 23, 59, 59, tzinfo=UTC)  # a gap-filling day
    produced = datetime(2024, 6, 20, 5, 30, 59, tzinfo=UTC)
    assert latency_hours(produced, times) == 5.52  # 5 h 31 min
    assert latency_hours(produced, {}) is None


def test_yearly_land_cover_is_not_an_observation_of_the_day() -> None:
    times = input_times({"MCD12Q1": INPUTS["MCD12Q1"], "SPL3SMP": INPUTS["SPL3SMP"][-1:]}, DAY)
    assert times["MODIS"] == {"days": [], "gap_filling_days": [], "composites": {}, "land_cover_year": 2024}
    assert newest_observation(times) == datetime(2024, 6, 17, 23, 59, 59, tzinfo=UTC)  # not 31 December


def test_a_record_without_input_times_gets_them_from_its_inputs_and_key() -> None:
    record = {
        "day": DAY.isoformat(),
        "inputs": INPUTS,
        "parameters": {"input_key_components": {"gap_filling_days": {"2024-06-18": "abc"}}},
    }
    assert record_times(record) == input_times(INPUTS, DAY, ["2024-06-18"])
    written = {**record, "input_times": {"SMAP": {"end": "2024-06-17T23:59:59Z"}}}
    assert record_times(written) == written["input_times"]
