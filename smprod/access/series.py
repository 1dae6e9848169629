"""A point's soil-moisture time series from the published products.

For each day, the 1 km pixel containing the point is read from the day's COGs (only the tile
holding it is inflated, and only up to the pixel's row: :mod:`smprod.access.cogpixel`), with the
QA bits decoded by name, and set beside the coarse SMAP value of its cell and the bilinear-SMAP
baseline at the pixel (:func:`smprod.grids.regrid.bilinear_at` of the coarse ``sm`` of
``inputs/YYYY/MM/DD/coarse.nc``, read as the 3 x 3 coarse cells around the pixel's; equal to the
whole-field interpolation).

A day without a product is listed as missing; a day whose files cannot be read is listed as
unreadable with the reason, and the other days go on.

What a series imports is kept to what its reads need (numpy, pyproj and h5py; no rasterio,
netCDF4 or xarray unless a file is not of the layout read directly), as ``smprod series`` starts
a process for one answer: ``tests/unit/access/test_series_imports.py`` holds it to that.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from numpy.typing import NDArray

from smprod.access import day_range
from smprod.access.cogpixel import UnsupportedFileError, read_pixel
from smprod.errors import ConfigError, MissingInputError, ProductError
from smprod.grids.ease import EaseGrid, Region, xy_to_lonlat
from smprod.grids.regrid import bilinear_at
from smprod.layout import ProductFiles, WorkLayout
from smprod.product.bands import QA_NODATA
from smprod.product.dayswitch import finish_switch, one_version
from smprod.qa import flag_names

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Days of a series when its start is not given (ending on the end day).
DEFAULT_SERIES_DAYS = 60
#: Status of a day: a product was read, none was published, or its files could not be read.
PRODUCT, MISSING, UNREADABLE = "product", "missing", "unreadable"
#: Columns of the CSV file, in order (values in m3/m3; ``qa_flags`` space-separated names).
CSV_COLUMNS = (
    "date", "status", "soil_moisture", "uncertainty", "qa", "qa_flags", "smap", "bilinear_smap",
)  # fmt: skip
#: Significant digits of the CSV values: float32 (the COGs) round-trips to about 1e-7.
CSV_DIGITS = 7
#: Decimals of the printed values (m3/m3; the product is not better than about 0.01).
PRINT_DECIMALS = 4
#: Threads reading a series' days at once, one a core (at most 8): inflating a tile runs in zlib
#: without the GIL, and h5py serialises its own calls.
READ_THREADS = min(8, os.cpu_count() or 1)
#: GDAL settings of a day's one-pixel reads when they go through the product contract (a COG not
#: of the layout :mod:`smprod.access.cogpixel` reads, or a file it cannot read, whose error GDAL
#: gives): the cheapest that still read the pixel and check the file's grid. ``EMPTY_DIR``: a
#: day's directory holds that day's files only and a COG has no sidecar, so GDAL need not list the
#: directory at each open. ``GEOKEYS``: the CRS is taken from the file's GeoTIFF keys without
#: matching it to the EPSG registry (PROJ look-ups, a third of an open), which the pixel read does
#: not use. Set here, not in the product reader: ``smprod/product`` is part of the product code
#: digest (``PRODUCT_CODE``), which a change there would alter, and every day would be produced
#: again.
PIXEL_READ_GDAL = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GTIFF_SRS_SOURCE": "GEOKEYS"}
#: Attributes by which netCDF4 would mask or scale a variable's values beyond its fill value: a
#: coarse ``sm`` with one of them is read by netCDF4 itself (:func:`coarse_values`).
NETCDF_VALUE_ATTRS = frozenset(
    {"missing_value", "valid_range", "valid_min", "valid_max", "scale_factor", "add_offset", "_Unsigned"}
)
#: netCDF's default fill value of float variables, which netCDF4 masks when no ``_FillValue`` is set.
NETCDF_DEFAULT_FILL = 9.969209968386869e36
#: Serialises what the reading threads must not do at once: netCDF4 calls (HDF5 is not built
#: thread-safe) and the first import of rasterio.
_LIBRARY_LOCK = threading.Lock()
#: Coarse SMAP variable of the day inputs (``docs/architecture.md``, "Gridded day inputs").
COARSE_SM = "sm"


@dataclass(frozen=True)
class PointCell:
    """The 1 km product pixel containing a point.

    Attributes:
        lon, lat: the point asked for (degrees).
        row, col: the pixel in the region's 1 km grid (``region.fine``).
        coarse_row, coarse_col: its coarse cell in ``region.coarse``.
        centre_lon, centre_lat: the pixel's centre (degrees).
    """

    lon: float
    lat: float
    row: int
    col: int
    coarse_row: int
    coarse_col: int
    centre_lon: float
    centre_lat: float


@dataclass(frozen=True)
class SeriesDay:
    """One day of a point series (values NaN where there is none, e.g. ``no_retrieval``).

    Attributes:
        day: the product day.
        status: :data:`PRODUCT`, :data:`MISSING` or :data:`UNREADABLE`.
        soil_moisture, uncertainty: the pixel's values (m3/m3).
        qa: the pixel's QA bits (None without a product).
        smap: the coarse SMAP ``sm`` of the pixel's cell (m3/m3).
        bilinear_smap: bilinear SMAP at the pixel (m3/m3).
        reason: why an unreadable day could not be read.
    """

    day: date
    status: str
    soil_moisture: float = math.nan
    uncertainty: float = math.nan
    qa: int | None = None
    smap: float = math.nan
    bilinear_smap: float = math.nan
    reason: str = ""

    @property
    def qa_flags(self) -> tuple[str, ...]:
        """Names of the QA bits set (:func:`smprod.qa.flag_names`)."""
        return () if self.qa is None else flag_names(self.qa)


@dataclass(frozen=True)
class PointSeries:
    """A point's days, in order."""

    cell: PointCell
    days: tuple[SeriesDay, ...]

    def with_status(self, status: str) -> list[SeriesDay]:
        """The days of one status (e.g. :data:`MISSING`)."""
        return [day for day in self.days if day.status == status]


def series_range(
    layout: WorkLayout, start: date | None, end: date | None, days: int = DEFAULT_SERIES_DAYS
) -> tuple[date, date]:
    """The days a series covers: ``end`` defaults to the newest product day, ``start`` to ``days``
    days ending on ``end``.

    Raises:
        MissingInputError: if ``end`` is not given and no product is published.
        ConfigError: if ``start`` is after ``end``.
    """
    if end is None:
        published = layout.product_days()
        if not published:
            raise MissingInputError(
                f"no published product under {layout.root / 'products'}: produce days first, or "
                "give the work directory the products are in"
            )
        end = published[-1]
        if start is not None and start > end:
            raise ConfigError(f"start {start} is after the newest product day {end}: give an earlier start")
    start = end - timedelta(days=days - 1) if start is None else start
    day_range(start, end)  # refuses start > end
    return start, end


def locate_point(region: Region, lon: float, lat: float) -> PointCell:
    """The region's 1 km pixel containing ``lon``, ``lat``.

    Raises:
        ConfigError: if the point lies outside the region (the message gives its bounds).
    """
    grid = EaseGrid(region.fine.km)
    with np.errstate(invalid="ignore"):  # a latitude beyond the grid projects to inf
        grid_row, grid_col = grid.rowcol_of_lonlat(lon, lat)
    row, col = int(grid_row) - region.fine.row0, int(grid_col) - region.fine.col0
    if not (0 <= row < region.fine.nrows and 0 <= col < region.fine.ncols and abs(lat) <= 90):
        west, south, east, north = region.fine.lonlat_bounds()
        raise ConfigError(
            f"point lon {lon}, lat {lat} is outside the region (lon {west:.4f} to {east:.4f}, lat "
            f"{south:.4f} to {north:.4f}; bbox {region.bbox} snapped to whole coarse cells): give "
            "a point inside it, or the bbox (--bbox / SMPROD_BBOX) the products were made for"
        )
    x, y = region.fine.x[col], region.fine.y[row]
    centre_lon, centre_lat = (float(v) for v in xy_to_lonlat(x, y))
    factor = region.factor
    return PointCell(lon, lat, row, col, row // factor, col // factor, centre_lon, centre_lat)


def point_series(
    layout: WorkLayout,
    region: Region,
    lon: float,
    lat: float,
    start: date | None = None,
    end: date | None = None,
) -> PointSeries:
    """The point's pixel on every day from ``start`` to ``end`` (both included; defaults as in
    :func:`series_range`).

    The days are read by :data:`READ_THREADS` threads at once (:func:`read_point_day` each).

    Raises:
        ConfigError: if the point is outside the region or ``start`` is after ``end``.
        MissingInputError: if ``end`` is not given and no product is published.
    """
    cell = locate_point(region, lon, lat)
    first, last = series_range(layout, start, end)
    days = day_range(first, last)
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="smprod-series") as pool:
        return PointSeries(cell, tuple(pool.map(lambda day: read_point_day(layout, region, cell, day), days)))


def read_point_day(layout: WorkLayout, region: Region, cell: PointCell, day: date) -> SeriesDay:
    """One day at the cell: missing, unreadable (with the reason), or the values."""
    files = layout.product_files(day)
    if not files.soil_moisture.exists():
        return SeriesDay(day, MISSING)  # its inputs are not read
    try:
        values = pixel_values(files, region, cell)
        smap, bilinear = coarse_values(layout.inputs_dir(day) / "coarse.nc", region, cell)
    except ProductError as err:
        return SeriesDay(day, UNREADABLE, reason=str(err))
    qa = int(values["qa"])
    return SeriesDay(
        day,
        PRODUCT,
        soil_moisture=float(values["soil_moisture"]),
        uncertainty=float(values["uncertainty"]),
        qa=None if qa == QA_NODATA else qa,
        smap=smap,
        bilinear_smap=bilinear,
    )


def pixel_values(files: ProductFiles, region: Region, cell: PointCell) -> dict[str, float]:
    """The cell's pixel in each of the day's COGs (asset key -> value), of one version of the day.

    As :func:`smprod.product.read.read_layers` with a one-pixel window on ``region.fine`` reads it,
    provenance check included: by :func:`smprod.access.cogpixel.read_pixel` when every file is of
    its layout, else through ``read_layers`` itself (which also words the error of a file that
    cannot be read).

    Raises:
        ProductError: if a file is missing or unreadable or not on the region's 1 km grid, or the
            provenance is missing or does not parse.
    """
    shape, transform = region.fine.shape, tuple(region.fine.transform)[:6]

    def read() -> dict[str, float]:
        json.loads(files.provenance.read_text())  # as read_layers: a day without one is unreadable
        cogs = files.cogs().items()
        return {key: read_pixel(path, cell.row, cell.col, shape, transform) for key, path in cogs}

    finish_switch(files.directory)
    try:
        return one_version(files.directory, read)
    except (UnsupportedFileError, OSError, ValueError):
        return _contract_pixel_values(files, region, cell)


def _contract_pixel_values(files: ProductFiles, region: Region, cell: PointCell) -> dict[str, float]:
    """:func:`pixel_values` through :func:`smprod.product.read.read_layers` (GDAL)."""
    with _LIBRARY_LOCK:
        import rasterio

        from smprod.product.read import read_layers

    window = (slice(cell.row, cell.row + 1), slice(cell.col, cell.col + 1))
    with rasterio.Env(**PIXEL_READ_GDAL):
        layers = read_layers(files, window, grid=region.fine).layers
    return {key: layers[key][0, 0].item() for key in layers}


def coarse_values(path: Path, region: Region, cell: PointCell) -> tuple[float, float]:
    """SMAP of the cell's coarse cell and bilinear SMAP at the cell, from a day's ``coarse.nc``.

    Only the coarse cells around the pixel's are read. Without the file (inputs removed after
    production) or its ``sm`` variable both are NaN.

    Raises:
        ProductError: if the file cannot be read or is not on the region's coarse grid.
    """
    r, c = cell.coarse_row, cell.coarse_col
    rows = slice(max(0, r - 1), min(region.coarse.nrows, r + 2))
    cols = slice(max(0, c - 1), min(region.coarse.ncols, c + 2))
    if not path.exists():
        return math.nan, math.nan
    try:
        block = _read_coarse_hdf5(path, region, rows, cols)
    except UnsupportedFileError:
        block = _read_coarse_netcdf(path, region, rows, cols)
    if block is None:
        return math.nan, math.nan
    top, left = r - rows.start, c - cols.start
    factor = region.factor
    row, col = top * factor + cell.row % factor, left * factor + cell.col % factor
    return float(block[top, left]), bilinear_at(block, factor, row, col)


def _read_coarse_hdf5(path: Path, region: Region, rows: slice, cols: slice) -> NDArray[np.float64] | None:
    """The window of ``sm`` read with h5py (a netCDF-4 file is HDF5; about a third of netCDF4's
    open), masked as netCDF4 masks it: values equal to ``_FillValue`` (else to netCDF's default
    fill) are NaN.

    Raises:
        UnsupportedFileError: if h5py cannot read the file (not HDF5: a netCDF-3 file, a damaged one) or
            ``sm`` is not a float array netCDF4 would give as stored (:data:`NETCDF_VALUE_ATTRS`, a
            fill value of another type): then netCDF4 reads it, and words the error.
        ProductError: if ``sm`` is not on the region's coarse grid.
    """
    try:
        with h5py.File(path, "r") as file:
            variable = file.get(COARSE_SM)
            if variable is None:
                return None
            if not isinstance(variable, h5py.Dataset) or variable.dtype.kind != "f":
                raise UnsupportedFileError(f"{path}: {COARSE_SM} is not a float array")
            names = set(variable.attrs.keys())
            fill = variable.attrs["_FillValue"] if "_FillValue" in names else NETCDF_DEFAULT_FILL
            if names & NETCDF_VALUE_ATTRS or np.shape(fill) not in ((), (1,)):
                raise UnsupportedFileError(f"{path}: {COARSE_SM} is masked or scaled by its attributes")
            if "_FillValue" in names and np.asarray(fill).dtype != variable.dtype:
                raise UnsupportedFileError(f"{path}: {COARSE_SM} has a fill value of another type")
            _check_coarse_shape(path, tuple(variable.shape), region)
            stored = variable[rows, cols]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise UnsupportedFileError(f"{path}: {err}") from err
    values = np.asarray(stored, dtype=np.float64)
    values[values == np.asarray(fill, dtype=stored.dtype).astype(np.float64).item()] = np.nan
    return values


def _read_coarse_netcdf(path: Path, region: Region, rows: slice, cols: slice) -> NDArray[np.float64] | None:
    """The window of ``sm`` read with netCDF4 (masked as it masks; one thread at a time)."""
    with _LIBRARY_LOCK:
        import netCDF4

        try:
            with netCDF4.Dataset(path) as ds:
                if COARSE_SM not in ds.variables:
                    return None
                variable = ds.variables[COARSE_SM]
                _check_coarse_shape(path, tuple(variable.shape), region)
                values = variable[rows, cols]
        except (OSError, RuntimeError) as err:  # netCDF4: OSError opening, RuntimeError reading
            raise ProductError(f"{path} cannot be read: {err}") from err
    return np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)


def _check_coarse_shape(path: Path, shape: tuple[int, ...], region: Region) -> None:
    if shape != region.coarse.shape:
        raise ProductError(
            f"{path}: {COARSE_SM} has shape {shape}, the region's coarse grid "
            f"is {region.coarse.shape}; were the inputs made for another --bbox or coarse product?"
        )


def series_lines(series: PointSeries) -> list[str]:
    """The series as text: a header naming the pixel, one line per day, a closing count."""
    cell, days = series.cell, series.days
    lines = [
        f"point lon {cell.lon}, lat {cell.lat}: 1 km pixel centred at lon {cell.centre_lon:.4f}, lat "
        f"{cell.centre_lat:.4f} (values in m3/m3; uncertainty is 1 sigma)",
        f"{'date':<10}  {'soil_moisture':>13}  {'uncertainty':>11}  {'smap':>6}  {'bilinear_smap':>13}  qa",
    ]
    lines += [_day_line(day) for day in days]
    missing = [day.day.isoformat() for day in series.with_status(MISSING)]
    unreadable = series.with_status(UNREADABLE)
    summary = f"{len(days)} days {days[0].day} .. {days[-1].day}: {len(series.with_status(PRODUCT))} "
    summary += f"with a product, {len(missing)} missing" + (f" ({', '.join(missing)})" if missing else "")
    return [*lines, summary + (f", {len(unreadable)} unreadable" if unreadable else "")]


def _day_line(day: SeriesDay) -> str:
    if day.status == MISSING:
        return f"{day.day}  missing: no product for this day"
    if day.status == UNREADABLE:
        return f"{day.day}  unreadable: {day.reason}"
    qa = "-" if day.qa is None else f"{day.qa} {','.join(day.qa_flags)}".rstrip()
    return (
        f"{day.day}  {_text(day.soil_moisture):>13}  {_text(day.uncertainty):>11}  "
        f"{_text(day.smap):>6}  {_text(day.bilinear_smap):>13}  {qa}"
    )


def _text(value: float) -> str:
    return f"{value:.{PRINT_DECIMALS}f}" if math.isfinite(value) else "-"


def series_records(series: PointSeries) -> dict[str, Any]:
    """The series as a JSON object: the pixel, then one record per day with the fields of
    :class:`SeriesDay` (:data:`CSV_COLUMNS` plus ``reason``; values as read, NaN as null, the QA
    flags as a list), then the counts :func:`series_lines` closes with."""
    days = [
        {
            "date": day.day.isoformat(),
            "status": day.status,
            "soil_moisture": _json_number(day.soil_moisture),
            "uncertainty": _json_number(day.uncertainty),
            "qa": day.qa,
            "qa_flags": list(day.qa_flags),
            "smap": _json_number(day.smap),
            "bilinear_smap": _json_number(day.bilinear_smap),
            "reason": day.reason,
        }
        for day in series.days
    ]
    counts = {status: len(series.with_status(status)) for status in (PRODUCT, MISSING, UNREADABLE)}
    first, last = series.days[0].day, series.days[-1].day
    return {"point": asdict(series.cell), "start": first.isoformat(), "end": last.isoformat(), "days": days,
            "counts": counts, "units": "m3/m3"}  # fmt: skip


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def series_csv(series: PointSeries) -> str:
    """The series as CSV text (:data:`CSV_COLUMNS`; empty fields where there is no value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for day in series.days:
        values = (day.soil_moisture, day.uncertainty)
        coarse = (day.smap, day.bilinear_smap)
        qa = ("" if day.qa is None else str(day.qa), " ".join(day.qa_flags))
        writer.writerow(
            [day.day.isoformat(), day.status, *map(_csv_number, values), *qa, *map(_csv_number, coarse)]
        )
    return buffer.getvalue()


def _csv_number(value: float) -> str:
    return f"{value:.{CSV_DIGITS}g}" if math.isfinite(value) else ""


def write_series_csv(series: PointSeries, path: Path) -> Path:
    """Write :func:`series_csv` to ``path`` atomically (a temporary sibling, then renamed)."""
    from smprod.product.write import staged  # the product writer's imports only when writing

    with staged([path]) as temp:
        temp[path].write_text(series_csv(series))
    return path


def plot_series(series: PointSeries, path: Path) -> Path:
    """A PNG time series: soil moisture with its 1-sigma band, SMAP and bilinear SMAP.

    Days without a value are gaps in the lines, days without a product shaded grey; the file is
    written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from smprod.product.write import staged

    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot()
    _draw_series(axes, series)
    cell = series.cell
    axes.set_title(f"soil moisture at lon {cell.centre_lon:.4f}, lat {cell.centre_lat:.4f} (1 km pixel)")
    axes.set_ylabel("soil moisture (m3/m3)")
    axes.legend(loc="best")
    figure.autofmt_xdate()
    with staged([path]) as temp:
        FigureCanvasAgg(figure).print_png(temp[path])
    return path


def _draw_series(axes: Axes, series: PointSeries) -> None:
    """The lines, the uncertainty band and the grey days without a product, on a date axis."""
    from matplotlib.dates import date2num

    x = np.asarray(date2num([day.day for day in series.days]))
    sm = np.array([day.soil_moisture for day in series.days])
    sigma = np.array([day.uncertainty for day in series.days])
    axes.fill_between(x, sm - sigma, sm + sigma, color="tab:blue", alpha=0.25, label="±1 sigma")
    axes.plot(x, sm, "o-", color="tab:blue", markersize=3, label="smprod 1 km")
    axes.plot(x, [day.smap for day in series.days], "s", color="tab:orange", markersize=4, label="SMAP cell")
    axes.plot(x, [day.bilinear_smap for day in series.days], "--", color="tab:green", label="bilinear SMAP")
    missing = [centre for centre, day in zip(x, series.days, strict=True) if day.status == MISSING]
    for n, centre in enumerate(missing):
        axes.axvspan(centre - 0.5, centre + 0.5, color="0.9", zorder=0, label=None if n else "no product")
    axes.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    axes.xaxis_date()
