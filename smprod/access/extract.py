"""An area of the published products over many days as one CF-conventions dataset.

The area is a lon/lat bbox snapped outward to whole 1 km cells of EASE-Grid 2.0 and clipped to
the region; every product day in the date range is read by windows from its COGs (only the
tiles the area touches) into ``soil_moisture``, ``uncertainty`` and ``qa`` with dims
``(time, y, x)``. The dataset follows CF 1.8: x/y in metres with their standard names, a
``spatial_ref`` grid-mapping variable written by rioxarray, ``time`` at noon UTC of the product
day with bounds covering the UTC day (the STAC items' convention), QA bits as ``flag_masks`` /
``flag_meanings`` (:mod:`smprod.qa`). Optionally it is reprojected to lon/lat (EPSG:4326):
bilinear for the continuous variables, nearest for ``qa``, recorded in the attributes.

Days without a product are left out of ``time`` and listed in the ``missing_days`` attribute.
The whole area is held in memory: about 9 bytes per pixel and day (30 days of a 1000 x 1000
pixel area: 270 MB).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

import smprod
from smprod.access import day_range
from smprod.config import BBox
from smprod.errors import ConfigError, GridError, MissingInputError, ProductError
from smprod.grids.ease import EPSG, Region, RegionGrid, region_from_bbox
from smprod.layout import COG_ASSETS, PRODUCT_ID, WorkLayout
from smprod.product.bands import BANDS, QA_NODATA
from smprod.product.read import read_layers
from smprod.product.write import staged
from smprod.qa import QA_DESCRIPTIONS

if TYPE_CHECKING:
    import xarray as xr

#: CRS of the ``--latlon`` output.
LATLON_EPSG = 4326
#: CF version the dataset follows.
CONVENTIONS = "CF-1.8"
#: Time of day of a product day's ``time`` value (the STAC item datetime is noon UTC too).
DAY_TIME = time(12)
#: CF time encoding (days since the epoch, proleptic Gregorian = the calendar of ISO dates).
TIME_ENCODING = {
    "units": "days since 1970-01-01 00:00:00",
    "calendar": "proleptic_gregorian",
    "dtype": "float64",
}
#: netCDF-4 compression of the data variables (lossless).
NETCDF_COMPRESSION = {"zlib": True, "complevel": 4, "shuffle": True}
#: CF 1.8 standard name of volumetric soil moisture; uncertainty and qa take its modifiers.
SOIL_MOISTURE_STANDARD_NAME = "volume_fraction_of_condensed_water_in_soil"
#: CF attributes of each variable beyond ``long_name``/``units`` (which come from the COG bands).
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "soil_moisture": {"standard_name": SOIL_MOISTURE_STANDARD_NAME, "ancillary_variables": "uncertainty qa"},
    "uncertainty": {"standard_name": f"{SOIL_MOISTURE_STANDARD_NAME} standard_error"},
    "qa": {"standard_name": f"{SOIL_MOISTURE_STANDARD_NAME} status_flag"},
}
#: x/y coordinate attributes in EASE-Grid 2.0 (projected, metres) and in lon/lat.
PROJECTED_XY = {
    "x": {
        "standard_name": "projection_x_coordinate",
        "long_name": "x coordinate of projection",
        "units": "m",
    },
    "y": {
        "standard_name": "projection_y_coordinate",
        "long_name": "y coordinate of projection",
        "units": "m",
    },
}
GEOGRAPHIC_XY = {
    "x": {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"},
    "y": {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"},
}


class ExtractFormat(StrEnum):
    """Output formats of an extract."""

    NETCDF = "netcdf"
    ZARR = "zarr"


@dataclass(frozen=True)
class AreaWindow:
    """The product pixels an extract covers.

    Attributes:
        bbox: the lon/lat bbox asked for.
        grid: the pixels on the global EASE-Grid 2.0 1 km grid.
        rows, cols: the same pixels as slices of the region's 1 km grid (``region.fine``).
        clipped: the snapped bbox reached beyond the region and was cut to it.
        requested: the pixels of the snapped bbox before it was cut to the region.
    """

    bbox: tuple[float, float, float, float]
    grid: RegionGrid
    rows: slice
    cols: slice
    clipped: bool
    requested: RegionGrid


@dataclass(frozen=True)
class AreaStack:
    """The window of every product day found, stacked in day order.

    Attributes:
        days: the product days read (the ``time`` axis).
        missing: the days of the range without a product.
        layers: asset key -> array ``(day, y, x)`` in the file's type.
        provenance: each day's provenance record, in ``days`` order.
    """

    days: list[date]
    missing: list[date]
    layers: dict[str, NDArray]
    provenance: list[dict[str, Any]]


def check_format(fmt: ExtractFormat) -> None:
    """Refuse a format whose writer is not installed, before anything is read.

    Raises:
        ConfigError: for ``zarr`` without the ``zarr`` package.
    """
    if fmt is ExtractFormat.ZARR and importlib.util.find_spec("zarr") is None:
        raise ConfigError(
            "--format zarr needs the Python package 'zarr', which is not installed (it is not among "
            "smprod's pinned dependencies in requirements/constraints.txt): use --format netcdf"
        )


def area_window(region: Region, bbox: tuple[float, float, float, float]) -> AreaWindow:
    """The region's 1 km pixels that intersect ``bbox`` (snapped outward to whole cells).

    Raises:
        ConfigError: if the bbox is malformed or lies outside the region.
    """
    try:
        bbox = BBox.parse(bbox)
        cells = region_from_bbox(bbox, coarse_km=region.fine.km, fine_km=region.fine.km).fine
    except (ValueError, GridError) as err:
        raise ConfigError(f"bbox {bbox}: {err}; give minlon,minlat,maxlon,maxlat inside the region") from err
    fine = region.fine
    row0, col0 = max(cells.row0, fine.row0), max(cells.col0, fine.col0)
    row1 = min(cells.row0 + cells.nrows, fine.row0 + fine.nrows)
    col1 = min(cells.col0 + cells.ncols, fine.col0 + fine.ncols)
    if row0 >= row1 or col0 >= col1:
        west, south, east, north = fine.lonlat_bounds()
        raise ConfigError(
            f"bbox {bbox} is outside the region (lon {west:.4f} to {east:.4f}, lat {south:.4f} to "
            f"{north:.4f}; bbox {region.bbox} snapped to whole coarse cells): give a bbox that "
            "overlaps it, or the region (SMPROD_BBOX / bbox in smprod.toml) the products were made for"
        )
    grid = fine.window(row0 - fine.row0, col0 - fine.col0, row1 - row0, col1 - col0)
    rows, cols = slice(row0 - fine.row0, row1 - fine.row0), slice(col0 - fine.col0, col1 - fine.col0)
    return AreaWindow(bbox, grid, rows, cols, clipped=grid.shape != cells.shape, requested=cells)


def read_area(layout: WorkLayout, region: Region, window: AreaWindow, days: list[date]) -> AreaStack:
    """Read the window of every product day in ``days``; days without a product are missing.

    Raises:
        ProductError: if a day's files cannot be read or are on another grid.
    """
    found, missing, provenance = [], [], []
    stacks: dict[str, list[NDArray]] = {key: [] for key in COG_ASSETS}
    for day in days:
        files = layout.product_files(day)
        if not files.soil_moisture.exists():
            missing.append(day)
            continue
        try:
            read = read_layers(files, (window.rows, window.cols), grid=region.fine)
        except ProductError as err:
            raise ProductError(f"{err} (smprod product check {day} lists what is wrong)") from err
        for key in COG_ASSETS:
            stacks[key].append(read.layers[key])
        found.append(day)
        provenance.append(read.provenance)
    layers = {
        key: np.stack(arrays) if arrays else np.empty((0, *window.grid.shape))
        for key, arrays in stacks.items()
    }
    return AreaStack(found, missing, layers, provenance)


def extract_area(
    layout: WorkLayout,
    region: Region,
    bbox: tuple[float, float, float, float],
    start: date,
    end: date,
    history: str,
    latlon: bool = False,
) -> xr.Dataset:
    """The product days from ``start`` to ``end`` over ``bbox`` as one CF dataset.

    Args:
        layout: the work directory holding the products.
        region: the region the products were made for.
        bbox: lon/lat area ``(minlon, minlat, maxlon, maxlat)``.
        start, end: the days (both included).
        history: the CF ``history`` line (who made it and when; the caller knows the clock).
        latlon: reproject to EPSG:4326 (bilinear for soil moisture and uncertainty, nearest for qa).

    Raises:
        ConfigError: if the bbox is outside the region or ``start`` is after ``end``.
        MissingInputError: if no day of the range has a product.
        ProductError: if a product day cannot be read.
    """
    window = area_window(region, bbox)
    stack = read_area(layout, region, window, day_range(start, end))
    if not stack.days:
        raise MissingInputError(
            f"no product between {start} and {end} under {layout.root / 'products'}: pick days that "
            "were produced (smprod series at a point lists them)"
        )
    dataset = grid_dataset(stack, window.grid)
    if latlon:
        dataset = to_latlon(dataset)
    return describe(dataset, stack, window, history, latlon)


def grid_dataset(stack: AreaStack, grid: RegionGrid) -> xr.Dataset:
    """The stacked layers on their EASE-Grid 2.0 window (dims ``time, y, x``; CRS and transform set)."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    times = [datetime.combine(day, DAY_TIME) for day in stack.days]
    variables = {key: (("time", "y", "x"), array) for key, array in stack.layers.items()}
    dataset = xr.Dataset(variables, coords={"time": np.array(times, dtype="datetime64[ns]"), **grid.coords()})
    return dataset.rio.write_crs(f"EPSG:{EPSG}").rio.write_transform(grid.transform)


def to_latlon(dataset: xr.Dataset) -> xr.Dataset:
    """``dataset`` reprojected to EPSG:4326 by rioxarray: bilinear for the continuous variables,
    nearest for ``qa``, all on one lon/lat grid (GDAL's default resolution for the window)."""
    from rasterio.enums import Resampling

    continuous = dataset[["soil_moisture", "uncertainty"]]
    for name in continuous.data_vars:
        continuous[name] = continuous[name].rio.write_nodata(np.nan, encoded=False)
    smooth = continuous.rio.reproject(f"EPSG:{LATLON_EPSG}", resampling=Resampling.bilinear)
    qa = dataset["qa"].rio.write_nodata(QA_NODATA, encoded=False)
    return smooth.assign(qa=qa.rio.reproject_match(smooth, resampling=Resampling.nearest))


def describe(
    dataset: xr.Dataset, stack: AreaStack, window: AreaWindow, history: str, latlon: bool
) -> xr.Dataset:
    """Set the CF attributes of the variables, coordinates and dataset; add ``time_bnds``."""
    out = dataset.copy()
    for name in COG_ASSETS:
        out[name].attrs = variable_attrs(name)
        out[name].encoding = {}
    for axis, attrs in (GEOGRAPHIC_XY if latlon else PROJECTED_XY).items():
        out[axis].attrs = {**attrs, "axis": axis.upper()}
    starts = out["time"].values - np.timedelta64(DAY_TIME.hour, "h")
    out["time_bnds"] = (("time", "nv"), np.stack([starts, starts + np.timedelta64(1, "D")], axis=1))
    out["time"].attrs = {"standard_name": "time", "long_name": "product day (UTC)", "axis": "T"}
    out["time"].attrs["bounds"] = "time_bnds"
    out.attrs = global_attrs(stack, window, history, latlon)
    return out


def variable_attrs(name: str) -> dict[str, Any]:
    """CF attributes of a product variable: long name and units of its COG band, standard name,
    the grid mapping, and for ``qa`` the flag masks and meanings of :mod:`smprod.qa`."""
    band = BANDS[name]
    attrs: dict[str, Any] = {"long_name": band.tags["long_name"], **VARIABLE_ATTRS[name]}
    if name == "qa":
        attrs["flag_masks"] = np.array(list(QA_DESCRIPTIONS), dtype=np.uint8)
        attrs["flag_meanings"] = " ".join(QA_DESCRIPTIONS.values())
    else:
        attrs["units"] = band.units
    return {**attrs, "grid_mapping": "spatial_ref"}


def global_attrs(stack: AreaStack, window: AreaWindow, history: str, latlon: bool) -> dict[str, str]:
    """Dataset attributes: conventions, title, source, history, the days included and missing."""
    versions = sorted({str(record.get("model", {}).get("version", "unknown")) for record in stack.provenance})
    coarse = sorted({str(record.get("coarse_product", "unknown")) for record in stack.provenance})
    clipped = ", clipped to the region" if window.clipped else ""
    attrs = {
        "Conventions": CONVENTIONS,
        "title": f"smprod 1 km soil moisture ({PRODUCT_ID}): area extract",
        "source": f"smprod {smprod.__version__}: SMAP L3 ({', '.join(coarse)}) downscaled to 1 km and "
        f"mass-corrected to SMAP; model version(s) {', '.join(versions)}",
        "history": history,
        "product_id": PRODUCT_ID,
        "product_days": " ".join(day.isoformat() for day in stack.days),
        "missing_days": " ".join(day.isoformat() for day in stack.missing),
        "bbox": ",".join(str(v) for v in window.bbox),
        "comment": f"the EASE-Grid 2.0 1 km product pixels (EPSG:{EPSG}) intersecting bbox{clipped}, "
        "read by windows from the day's COGs; time = noon UTC of the product day",
    }
    if latlon:
        attrs["reprojection"] = (
            f"reprojected from EPSG:{EPSG} to EPSG:{LATLON_EPSG} with rioxarray (GDAL warp): bilinear "
            "for soil_moisture and uncertainty, nearest for qa"
        )
    return attrs


def write_extract(dataset: xr.Dataset, path: Path, fmt: ExtractFormat) -> Path:
    """Write the dataset to ``path`` atomically: a temporary sibling, renamed when complete.

    Raises:
        ConfigError: for a format whose writer is not installed (:func:`check_format`).
        ProductError: if the file cannot be written (nothing is left at ``path`` then).
    """
    check_format(fmt)
    try:
        if fmt is ExtractFormat.NETCDF:
            with staged([path]) as temp:
                dataset.to_netcdf(temp[path], engine="netcdf4", format="NETCDF4", encoding=encoding(dataset))
        else:
            _write_zarr(dataset, path)
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        raise ProductError(f"extract not written to {path}: {err}") from err
    return path


def encoding(dataset: xr.Dataset, compress: bool = True) -> dict[str, dict[str, Any]]:
    """Per-variable encoding: the COG's nodata as ``_FillValue``, CF time units, compression."""
    out: dict[str, dict[str, Any]] = {}
    for name in COG_ASSETS:
        fill = np.array(QA_NODATA if name == "qa" else np.nan, dtype=dataset[name].dtype)
        out[name] = {"_FillValue": fill, **(NETCDF_COMPRESSION if compress else {})}
    # CF 5: coordinate variables have no missing values, so no _FillValue either
    out.update({name: {"_FillValue": None} for name in ("x", "y")})
    out.update({name: {**TIME_ENCODING, "_FillValue": None} for name in ("time", "time_bnds")})
    return out


def _write_zarr(dataset: xr.Dataset, path: Path) -> None:
    """Write a zarr store beside ``path``, then rename it into place (an older store is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        dataset.to_zarr(temp, mode="w", encoding=encoding(dataset, compress=False))
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old)  # onto an empty directory: allowed
            os.replace(temp, path)
            shutil.rmtree(old)
        else:
            os.replace(temp, path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
