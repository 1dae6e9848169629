"""ISMN station files -> the ``stations`` table and UTC daily in situ means.

Parsing is :mod:`smprod.inputs.readers.ismn` (both separate-files ISMN layouts); this module decides
what validation keeps and stores it: sensors whose top is nominally at most 5 cm deep (the depth
SMAP senses; 2-inch sensors recorded as 0.0508 m count; design "Local archive contract"), values
flagged ``G`` (ISMN "good"), reduced to one mean per UTC calendar day (SMAP's AM/PM overpasses
are combined per UTC day too). A file without any good value is skipped, not stored as a station.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from smprod.errors import GranuleFormatError
from smprod.inputs.readers.ismn import (
    GOOD_FLAG,
    IsmnSeries,
    IsmnStation,
    daily_means_utc,
    good_values,
    is_surface,
    read_stm,
)
from smprod.validation.tables import InsituDaily, Station, database_error, upsert

#: Folder name below which the archive holds station files (design: local archive contract).
INSITU_DIR = "insitu"


def station_key(station: IsmnStation) -> str:
    """Unique name of a sensor: ``network/station/sensor/depth_from-depth_to`` (metres).

    The sensor tells apart sensors at one depth (newer ISMN names carry redundancy numbers, e.g.
    ``CS616_1_1`` and ``CS616_2_1``); for CEOP-separate files it comes from the file name.
    """
    depths = f"{station.depth_from:.2f}-{station.depth_to:.2f}"
    return f"{station.network}/{station.station}/{station.sensor}/{depths}"


def daily_means(series: IsmnSeries) -> pd.DataFrame:
    """UTC daily mean and count of the good, finite values; days without any are absent.

    Returns:
        Columns ``sm`` (m3/m3) and ``n_obs``, indexed by ``datetime.date``.
    """
    good = good_values(series).dropna()
    means = daily_means_utc(good)
    counts = good.groupby(good.index.floor("D")).count() if not good.empty else good
    out = pd.DataFrame({"sm": means.astype(float), "n_obs": counts.reindex(means.index).astype(int)})
    out.index = [stamp.date() for stamp in out.index]
    return out


def no_good_value_reason(series: IsmnSeries) -> str | None:
    """Why a file gives validation nothing, or None when it has at least one finite ``G`` value.

    Args:
        series: One parsed station file.

    Returns:
        A reason naming the flags the file does have (e.g. ``U`` unchecked, ``D05`` dubious).
    """
    if not good_values(series).dropna().empty:
        return None
    flags = ", ".join(sorted(set(series.data["ismn_flag"].astype(str)))) or "none"
    return (
        f"no finite value flagged {GOOD_FLAG} (ISMN good) among {len(series.data)} records "
        f"(flags: {flags}): nothing to validate against"
    )


def find_station_files(root: Path) -> list[Path]:
    """Every ``.stm`` file below any folder named ``insitu`` under ``root`` (sorted)."""
    folders = [folder for folder in Path(root).rglob(INSITU_DIR) if folder.is_dir()]
    return sorted({path for folder in folders for path in folder.rglob("*.stm")})


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: stations and station-days written, files left out and why.

    Attributes:
        stations: Sensors written to ``stations`` (each with at least one good day).
        days: Station-days written to ``insitu_daily``.
        skipped_deep: Paths of sensors deeper than the surface rule.
        skipped_no_good: ``path: reason`` of files without any value flagged ``G``.
        bad_files: ``path: reason`` of files that could not be read.
    """

    stations: int
    days: int
    skipped_deep: list[str]
    skipped_no_good: list[str]
    bad_files: list[str]


def ingest(engine: Engine, paths: Iterable[Path]) -> IngestReport:
    """Upsert station metadata and daily means of every file; a bad file is reported, not fatal.

    Files of sensors deeper than the surface rule, and files without any good value, are skipped
    and listed in the report.

    Raises:
        DatabaseError: if the database cannot be written.
    """
    stations = days = 0
    deep: list[str] = []
    no_good: list[str] = []
    bad: list[str] = []
    for path in paths:
        try:
            series = read_stm(path)
        except GranuleFormatError as err:
            bad.append(str(err))
            continue
        if not is_surface(series.station):
            deep.append(str(path))
            continue
        reason = no_good_value_reason(series)
        if reason is not None:
            no_good.append(f"{path}: {reason}")
            continue
        station_id = upsert_station(engine, series.station, str(path))
        daily = daily_means(series)
        rows = [
            {"station_id": station_id, "day": day, "sm": float(sm), "n_obs": int(n)}
            for day, sm, n in zip(daily.index, daily["sm"], daily["n_obs"], strict=True)
        ]
        days += upsert(engine, InsituDaily, rows)
        stations += 1
    return IngestReport(stations, days, deep, no_good, bad)


def upsert_station(engine: Engine, station: IsmnStation, source_file: str) -> int:
    """Insert or update one station row; returns its id."""
    key = station_key(station)
    row = {
        "station_key": key,
        "network": station.network,
        "station": station.station,
        "sensor": station.sensor,
        "lat": station.lat,
        "lon": station.lon,
        "elevation": station.elevation,
        "depth_from": station.depth_from,
        "depth_to": station.depth_to,
        "source_file": source_file,
    }
    upsert(engine, Station, [row])
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(Station.id).where(Station.station_key == key)).scalar_one())
    except (OperationalError, ProgrammingError) as err:
        raise database_error(engine, err, f"reading station {key}") from err
