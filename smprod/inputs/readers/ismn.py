"""ISMN in situ station files: "header + values" and headerless "CEOP separate" ``.stm`` files.

Formats (ISMN data download documentation, "Data formats"; Dorigo et al. 2021, HESS 25, 5749):

- **Header + values** (download option "Variables stored in separate files (Header+values)"):
  line 1 ``CSE network station lat lon elevation depth_from depth_to sensor`` (the sensor, and in
  newer downloads the station, may contain spaces; old downloads have no sensor); then one record
  per line ``YYYY/MM/DD HH:MM value ismn_flag provider_flag`` (hourly, UTC, m3/m3 for soil
  moisture). The provider flag may be empty. Lines may end in LF, CRLF or bare CR, and a blank
  line may follow the header (COSMOS downloads).
- **CEOP separate** (``ceop_sep``, option "Variables stored in separate files (CEOP formatted)"):
  no header; every line repeats the metadata: ``date time [actual_date actual_time] CSE network
  station lat lon elevation depth_from depth_to value ismn_flag provider_flag`` (the CEOP layout
  has the nominal and the actual UTC date/time; both variants are read). The lines carry no
  sensor: it is taken from the file name, as ISMN's own reader does.
- **CEOP combined** (the old "CEOP" option; not read): one file per station, named
  ``CSE_network_station_startdate_enddate.stm``, every line ``date time actual_date actual_time
  CSE network station lat lon elevation - depth ts ts_flag sm sm_flag`` (all depths, soil
  temperature and soil moisture together). Detected and refused with the download option to use.

File names of the separate layouts (ISMN): ``CSE_network_station_variable_depthfrom_depthto_
sensor_startdate_enddate.stm``; newer downloads append the redundancy and replacement numbers to
the sensor (``..._CS616_1_2_20010103_20090812.stm``), which then belong to the sensor's name.

ISMN quality flags: ``G`` good; ``C`` outside the plausible range; ``D`` dubious (several
subtypes ``D01``..``D10``, comma-joined when several apply); ``M`` missing; ``U`` unknown.
Only ``G`` is used for validation.

Station metadata is a frozen dataclass; values are a pandas DataFrame with a UTC index.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smprod.errors import GranuleFormatError

#: The ISMN flag of good data.
GOOD_FLAG = "G"
#: Deepest nominal top of a sensor (m) used as "surface" soil moisture (design, local archive
#: contract: depth_from nominally at most 5 cm, the layer SMAP senses).
MAX_SURFACE_DEPTH_M = 0.05
#: How far (m) a sensor's recorded top may exceed MAX_SURFACE_DEPTH_M and still count as nominal
#: 5 cm. SCAN and USCRN install sensors at 2 inches and ISMN records them as 2 x 0.0254 m =
#: 0.0508 m, 0.8 mm deeper than 0.05 m; 1 mm keeps them and nothing else (the next
#: installation depths are 0.06 m and 4 in = 0.1016 m).
SURFACE_DEPTH_TOLERANCE_M = 0.001
#: ISMN's placeholder for an unknown number (station elevation; depths of static variables),
#: written ``-99.90``/``-99.9``; stored as missing, never as a height.
ISMN_MISSING_PLACEHOLDER = -99.9

_DATE_RE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")
#: ISMN file names of the separate layouts:
#: CSE_network_station_variable_depthfrom_depthto[_sensor]_startdate_enddate.stm. The sensor runs
#: from the depths to the dates and may hold underscores (redundancy and replacement numbers).
_NAME_RE = re.compile(
    r"^[^_]+_[^_]+_.+?_(?P<variable>[A-Za-z][A-Za-z-]*)_(?P<depth_from>-?\d+\.\d+)_"
    r"(?P<depth_to>-?\d+\.\d+)(?:_(?P<sensor>.+))?_\d{8}_\d{8}\.stm$"
)
#: Download options whose files this module reads (named in the messages that refuse a file).
SUPPORTED_DOWNLOADS = (
    "'Variables stored in separate files (Header+values)' (preferred) or "
    "'Variables stored in separate files (CEOP formatted)'"
)


@dataclass(frozen=True)
class IsmnStation:
    """Metadata of one sensor at one station (one ``.stm`` file).

    ``elevation`` is None where ISMN has its placeholder -99.9 (unknown height).
    """

    cse: str
    network: str
    station: str
    lat: float
    lon: float
    elevation: float | None
    depth_from: float
    depth_to: float
    sensor: str
    variable: str = "soil_moisture"


@dataclass(frozen=True, eq=False)
class IsmnSeries:
    """One station file: its metadata and the records (index UTC timestamps; columns ``value``,
    ``ismn_flag``, ``provider_flag``)."""

    station: IsmnStation
    data: pd.DataFrame = field(repr=False)
    path: str = ""
    layout: str = "header_values"


@dataclass(frozen=True)
class IsmnFileName:
    """What the name of an ISMN file in a separate-files layout says about its sensor."""

    variable: str
    depth_from: float
    depth_to: float
    #: Empty when the name has none (old downloads, one sensor per depth).
    sensor: str


def parse_file_name(name: str) -> IsmnFileName | None:
    """The variable, depths and sensor in an ISMN ``.stm`` file name.

    Args:
        name: The file name (no folder), e.g.
            ``SCAN_SCAN_AAMU-jtg_sm_0.050800_0.050800_Hydraprobe-Analog_1_1_20200101_20201231.stm``.

    Returns:
        The parts, with ISMN's short variable ``sm`` spelled ``soil_moisture``; None when the name
        does not follow ISMN's convention (a renamed file, or a CEOP combined file).
    """
    match = _NAME_RE.match(name)
    if match is None:
        return None
    variable = {"sm": "soil_moisture"}.get(match["variable"], match["variable"])
    depth_from, depth_to = float(match["depth_from"]), float(match["depth_to"])
    return IsmnFileName(variable, depth_from, depth_to, match["sensor"] or "")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _metadata_tokens(
    tokens: list[str], line: str, path: Path
) -> tuple[str, str, str, list[float], list[str]]:
    """Split ``CSE network station... lat lon elev depth_from depth_to rest...``.

    The station may contain spaces: it runs until the first five consecutive numbers.
    """
    for start in range(3, len(tokens) - 4):
        if all(_is_number(t) for t in tokens[start : start + 5]):
            numbers = [float(t) for t in tokens[start : start + 5]]
            return tokens[0], tokens[1], " ".join(tokens[2:start]), numbers, tokens[start + 5 :]
    raise GranuleFormatError(
        path, f"not an ISMN metadata line (CSE network station lat lon elevation depths): {line!r}"
    )


def _elevation(value: float) -> float | None:
    """The station height in metres, or None for ISMN's placeholder of an unknown one."""
    return None if math.isclose(value, ISMN_MISSING_PLACEHOLDER, abs_tol=1e-6) else value


def _station(path: Path, header: str, name: IsmnFileName | None) -> IsmnStation:
    """Station metadata from a header (or a CEOP line's metadata part) and the file name.

    The sensor is the header's when it has one (it may hold spaces the name replaces), else the
    file name's.
    """
    cse, network, station, numbers, rest = _metadata_tokens(header.split(), header, path)
    lat, lon, elevation, depth_from, depth_to = numbers
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise GranuleFormatError(path, f"station position lat={lat} lon={lon} is outside the globe")
    return IsmnStation(
        cse,
        network,
        station,
        lat,
        lon,
        _elevation(elevation),
        depth_from,
        depth_to,
        " ".join(rest) or (name.sensor if name else ""),
        name.variable if name else "soil_moisture",
    )


def _is_ceop_combined(tokens: list[str]) -> bool:
    """Whether a split line is in the CEOP combined layout.

    Its lines have the nominal and the actual date/time, the metadata with a ``-`` and one depth,
    then two value/flag pairs (soil temperature, soil moisture): 16 tokens. A CEOP-separate line
    ends ``value flag [provider_flag]`` instead, so its third-last token is a number or a depth.
    """
    if len(tokens) < 16 or not (_DATE_RE.match(tokens[2]) and _TIME_RE.match(tokens[3])):
        return False
    ts, ts_flag, sm, sm_flag = tokens[-4:]
    return _is_number(ts) and _is_number(sm) and not (_is_number(ts_flag) or _is_number(sm_flag))


def _records(rows: list[tuple[str, str, str, str, str]], path: Path) -> pd.DataFrame:
    if not rows:
        raise GranuleFormatError(path, "no records")
    dates, times, values, flags, provider = zip(*rows, strict=True)
    try:
        index = pd.to_datetime(
            [f"{d} {t}" for d, t in zip(dates, times, strict=True)], format="%Y/%m/%d %H:%M", utc=True
        )
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError as err:
        raise GranuleFormatError(path, f"bad record: {err}") from err
    frame = pd.DataFrame({"value": numbers, "ismn_flag": flags, "provider_flag": provider}, index=index)
    frame.index.name = "time"
    return frame


def _header_values(path: Path, lines: list[str]) -> IsmnSeries:
    station = _station(path, lines[0], parse_file_name(path.name))
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4 or not _DATE_RE.match(tokens[0]):
            raise GranuleFormatError(
                path, f"line {number} is not 'date time value flag [provider_flag]': {line!r}"
            )
        rows.append((tokens[0], tokens[1], tokens[2], tokens[3], " ".join(tokens[4:])))
    return IsmnSeries(station, _records(rows, path), str(path), "header_values")


def _ceop_sep(path: Path, lines: list[str]) -> IsmnSeries:
    name = parse_file_name(path.name)
    if name is None:
        raise GranuleFormatError(
            path,
            "a CEOP-separate file (no header line) names its sensor only in the file name, and "
            "this name does not follow ISMN's CSE_network_station_variable_depthfrom_depthto_"
            "sensor_startdate_enddate.stm; keep the name ISMN gave the file (without the sensor, "
            "two sensors at one depth would be merged)",
        )
    station, rows = None, []
    for line in lines:
        tokens = line.split()
        if not tokens:
            continue
        skip = 4 if len(tokens) > 3 and _DATE_RE.match(tokens[2]) and _TIME_RE.match(tokens[3]) else 2
        meta = tokens[skip:]
        *_, rest = _metadata_tokens(meta, line, path)
        if len(rest) < 2:
            raise GranuleFormatError(path, f"CEOP line without value and flag: {line!r}")
        if station is None:
            station = _station(path, " ".join(meta[: len(meta) - len(rest)]), name)
        rows.append((tokens[0], tokens[1], rest[0], rest[1], " ".join(rest[2:])))
    if station is None:
        raise GranuleFormatError(path, "empty file")
    return IsmnSeries(station, _records(rows, path), str(path), "ceop_sep")


def read_stm(path: str | Path) -> IsmnSeries:
    """Read one ISMN ``.stm`` file in either separate-files layout (detected from line 1).

    Raises:
        GranuleFormatError: unreadable file, header without position/depths, malformed record,
            a CEOP-separate file not under its ISMN name, or a CEOP combined file (the message
            names the download option that gives readable files).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise GranuleFormatError(path, f"cannot be read ({err})") from err
    lines = text.splitlines()  # LF, CRLF and bare CR all occur in real downloads
    if not lines:
        raise GranuleFormatError(path, "empty file")
    first = lines[0].split()
    if first and _DATE_RE.match(first[0]):
        if _is_ceop_combined(first):
            raise GranuleFormatError(
                path,
                "is in ISMN's CEOP combined layout (all depths, soil moisture and soil temperature "
                "of a station in one file), which smprod does not read; download the station "
                f"again from ISMN with the format {SUPPORTED_DOWNLOADS}",
            )
        return _ceop_sep(path, lines)
    return _header_values(path, lines)


def is_surface(station: IsmnStation, max_depth: float = MAX_SURFACE_DEPTH_M) -> bool:
    """Whether the sensor's top is nominally at most ``max_depth`` metres below the surface.

    Nominally: up to :data:`SURFACE_DEPTH_TOLERANCE_M` deeper, so that 5 cm sensors recorded in
    inches (0.0508 m) count and 0.06 m does not.
    """
    return station.depth_from <= max_depth + SURFACE_DEPTH_TOLERANCE_M


def good_values(series: IsmnSeries) -> pd.Series:
    """The values flagged ``G`` (hourly, UTC index)."""
    data = series.data
    return data.loc[data["ismn_flag"] == GOOD_FLAG, "value"]


def daily_means_utc(values: pd.Series, min_count: int = 1) -> pd.Series:
    """Mean per UTC calendar day of the given values; days with fewer than ``min_count`` values dropped.

    The index is ``datetime.date``-like midnight UTC timestamps.
    """
    if values.empty:
        return values.astype(float)
    utc = values.tz_convert("UTC") if values.index.tz is not None else values.tz_localize("UTC")
    grouped = utc.groupby(utc.index.floor("D"))
    means = grouped.mean()
    counts = grouped.count()
    return means[counts >= min_count]
