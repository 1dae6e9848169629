"""ISMN station files -> the ``stations`` table and UTC daily in situ means.

Reads the ISMN "header + values" format (``.stm``): line 1 is ``CSE network station lat lon
elevation depth_from depth_to sensor`` (the sensor name may contain spaces); each record is
``YYYY/MM/DD HH:MM value ismn_flag [provider_flag]``, hourly, UTC, m3/m3 (ISMN data format
documentation, "Header + values" section). Real downloads mix CR, CRLF and LF-CR line ends, so
lines are split with :meth:`str.splitlines`, which accepts all of them.

Only what validation needs is kept: sensors whose depth_from is at most 5 cm (the depth SMAP
senses; design "Local archive contract") and values flagged ``G`` (ISMN quality flag "good").
The full-featured reader is :mod:`smprod.readers.ismn` (AREA=readers); this module keeps a
minimal parser so validation does not wait for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from smprod.errors import GranuleFormatError
from smprod.validation.tables import InsituDaily, Station, database_error, upsert

#: Deepest top of a sensor used for validation, metres (design: "depth_from at most 0.05 m").
MAX_DEPTH_FROM = 0.05
#: ISMN quality flag of good values (ISMN flag table: G = good).
GOOD_FLAG = "G"
#: Folder name below which the archive holds station files (design: local archive contract).
INSITU_DIR = "insitu"

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_RECORD = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2})\s+(\S+)\s+(\S+)")


@dataclass(frozen=True)
class StationMeta:
    """Header of one ISMN file: one sensor of one station at one depth."""

    network: str
    station: str
    lat: float
    lon: float
    elevation: float
    depth_from: float
    depth_to: float
    sensor: str
    source_file: str

    @property
    def key(self) -> str:
        """Unique name: ``network/station/sensor/depth_from-depth_to`` (metres)."""
        return f"{self.network}/{self.station}/{self.sensor}/{self.depth_from:.2f}-{self.depth_to:.2f}"


@dataclass(frozen=True)
class StationRecords:
    """A station's metadata and hourly series (index UTC timestamps; columns value, flag)."""

    meta: StationMeta
    hourly: pd.DataFrame


def parse_header(line: str, source: str) -> StationMeta:
    """Parse line 1: names, then 5 numbers (lat lon elevation depth_from depth_to), then sensor.

    Raises:
        GranuleFormatError: if the line does not have that shape.
    """
    tokens = line.split()
    first = next(
        (i for i in range(len(tokens) - 4) if all(_NUMBER.match(t) for t in tokens[i : i + 5])), None
    )
    if first is None or first < 3 or len(tokens) <= first + 5:
        raise GranuleFormatError(source, f"not an ISMN header (CSE network station lat lon ...): {line!r}")
    lat, lon, elevation, depth_from, depth_to = (float(t) for t in tokens[first : first + 5])
    return StationMeta(
        network=tokens[1],
        station=" ".join(tokens[2:first]),
        lat=lat,
        lon=lon,
        elevation=elevation,
        depth_from=depth_from,
        depth_to=depth_to,
        sensor=" ".join(tokens[first + 5 :]),
        source_file=source,
    )


def parse_stm(text: str, source: str) -> StationRecords:
    """Parse the text of a header + values file.

    Raises:
        GranuleFormatError: for a bad header or a record line that is not a record.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise GranuleFormatError(source, "empty ISMN file")
    meta = parse_header(lines[0], source)
    times, values, flags = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        match = _RECORD.match(line.strip())
        if match is None:
            raise GranuleFormatError(source, f"line {number} is not 'YYYY/MM/DD HH:MM value flag': {line!r}")
        times.append(match.group(1))
        values.append(float(match.group(2)))
        flags.append(match.group(3))
    index = pd.to_datetime(pd.Index(times), format="%Y/%m/%d %H:%M", utc=True)
    return StationRecords(meta, pd.DataFrame({"value": values, "flag": flags}, index=index))


def read_stm(path: Path) -> StationRecords:
    """Read one ISMN ``.stm`` file.

    Raises:
        GranuleFormatError: if the file cannot be read or parsed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise GranuleFormatError(path, f"cannot read: {err}") from err
    return parse_stm(text, str(path))


def daily_means(hourly: pd.DataFrame) -> pd.DataFrame:
    """UTC daily mean and count of the good (flag G), finite values; days without any dropped.

    Returns:
        Columns ``sm`` (m3/m3) and ``n_obs``, indexed by ``datetime.date``.
    """
    good = hourly.loc[(hourly["flag"] == GOOD_FLAG) & hourly["value"].notna(), "value"]
    grouped = good.groupby(good.index.floor("D"))
    out = pd.DataFrame({"sm": grouped.mean(), "n_obs": grouped.count()})
    out.index = [stamp.date() for stamp in out.index]
    return out


def find_station_files(root: Path) -> list[Path]:
    """Every ``.stm`` file below any folder named ``insitu`` under ``root`` (sorted)."""
    return sorted(
        {p for folder in Path(root).rglob(INSITU_DIR) if folder.is_dir() for p in folder.rglob("*.stm")}
    )


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did."""

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
            records = read_stm(path)
        except GranuleFormatError as err:
            bad.append(str(err))
            continue
        if records.meta.depth_from > MAX_DEPTH_FROM:
            deep.append(str(path))
            continue
        station_id = upsert_station(engine, records.meta)
        daily = daily_means(records.hourly)
        rows = [
            {"station_id": station_id, "day": day, "sm": float(row.sm), "n_obs": int(row.n_obs)}
            for day, row in zip(daily.index, daily.itertuples(), strict=True)
        ]
        days += upsert(engine, InsituDaily, rows)
        stations += 1
    return IngestReport(stations, days, deep, bad)


def upsert_station(engine: Engine, meta: StationMeta) -> int:
    """Insert or update one station row; returns its id."""
    row = {
        "station_key": meta.key,
        "network": meta.network,
        "station": meta.station,
        "sensor": meta.sensor,
        "lat": meta.lat,
        "lon": meta.lon,
        "elevation": meta.elevation,
        "depth_from": meta.depth_from,
        "depth_to": meta.depth_to,
        "source_file": meta.source_file,
    }
    upsert(engine, Station, [row])
    try:
        with engine.connect() as conn:
            query = sa.select(Station.id).where(Station.station_key == meta.key)
            return int(conn.execute(query).scalar_one())
    except (OperationalError, ProgrammingError) as err:
        raise database_error(engine, err) from err
