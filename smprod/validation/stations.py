"""ISMN station files -> the ``stations`` table and UTC daily in situ means.

Parsing is :mod:`smprod.readers.ismn` (both ISMN layouts); this module decides what validation
keeps and stores it: sensors whose top is at most 5 cm deep (the depth SMAP senses; design
"Local archive contract"), values flagged ``G`` (ISMN "good"), reduced to one mean per UTC
calendar day (SMAP's AM/PM overpasses are combined per UTC day too).
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
from smprod.readers.ismn import IsmnSeries, IsmnStation, daily_means_utc, good_values, is_surface, read_stm
from smprod.validation.tables import InsituDaily, Station, database_error, upsert

#: Folder name below which the archive holds station files (design: local archive contract).
INSITU_DIR = "insitu"


def station_key(station: IsmnStation) -> str:
    """Unique name of a sensor: ``network/station/sensor/depth_from-depth_to`` (metres)."""
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


def find_station_files(root: Path) -> list[Path]:
    """Every ``.stm`` file below any folder named ``insitu`` under ``root`` (sorted)."""
    folders = [folder for folder in Path(root).rglob(INSITU_DIR) if folder.is_dir()]
    return sorted({path for folder in folders for path in folder.rglob("*.stm")})


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: stations and station-days written, files left out and why."""

    stations: int
    days: int
    skipped_deep: list[str]
    bad_files: list[str]


def ingest(engine: Engine, paths: Iterable[Path]) -> IngestReport:
    """Upsert station metadata and daily means of every file; a bad file is reported, not fatal.

    Raises:
        DatabaseError: if the database cannot be written.
    """
    stations = days = 0
    deep: list[str] = []
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
        station_id = upsert_station(engine, series.station, str(path))
        daily = daily_means(series)
        rows = [
            {"station_id": station_id, "day": day, "sm": float(sm), "n_obs": int(n)}
            for day, sm, n in zip(daily.index, daily["sm"], daily["n_obs"], strict=True)
        ]
        days += upsert(engine, InsituDaily, rows)
        stations += 1
    return IngestReport(stations, days, deep, bad)


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
        raise database_error(engine, err) from err
