"""GPM IMERG precipitation: daily ``.nc4`` (Final/Late/Early) and the half-hourly HDF5 layout.

Format (IMERG V07 Technical Documentation, Huffman et al. 2023, and the GES DISC daily product
README; checked on the real samples): precipitation is stored with dims ``(time, lon, lat)``
(longitude first, latitude ascending south to north) on the global 0.1 degree grid of cell
centres, 3600 x 1800. Daily files (``3B-DAY*.nc4``) hold ``precipitation`` in mm/day at the
root; half-hourly files (``3B-HHR*.HDF5``) hold ``/Grid/precipitation`` (V07) or
``/Grid/precipitationCal`` (V06) in mm/hr. Negative values are fill (-9999.9).

The reader transposes to ``(y, x)`` north-up on EPSG:4326 and writes the CRS; coordinates are
the 0.1 degree cell centres recomputed from the grid definition (the files' float32 lon/lat only
pick the cells), so neighbouring granules line up exactly. The run, the day and the default
units (mm/day daily, mm/hr half-hourly) come from the official file name
(:func:`smprod.inputs.granules.parse_name`); a renamed file has no run or day.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import xarray as xr
from numpy.typing import NDArray

from smprod.errors import GranuleFormatError
from smprod.grids.ease import RegionGrid
from smprod.inputs.granules import GranuleName, parse_name
from smprod.inputs.readers import lonlat_window, open_hdf5

#: Cell size (degrees) of the IMERG global grid and its west/south edges.
RESOLUTION = 0.1
WEST, SOUTH = -180.0, -90.0
#: Extra degrees read around a window, so bilinear interpolation at its edge has neighbours.
WINDOW_MARGIN = 0.25
#: Precipitation variable names, in order of preference, where they live in each layout.
VARIABLE_PATHS = ("precipitation", "Grid/precipitation", "precipitationCal", "Grid/precipitationCal")


def imerg_name(name: str) -> GranuleName | None:
    """The parsed official IMERG name (daily or half-hourly; its ``run`` is Final, Late or Early), or None."""
    granule = parse_name(name)
    return granule if granule is not None and granule.family == "IMERG" else None


def _text(value: object) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode(errors="replace")
    return str(np.ravel(value)[0]) if isinstance(value, np.ndarray) else str(value)


def _find_variable(f: h5py.File, path: Path) -> h5py.Dataset:
    for name in VARIABLE_PATHS:
        obj = f.get(name)
        if isinstance(obj, h5py.Dataset):
            return obj
    raise GranuleFormatError(
        path, f"no precipitation variable (looked for {', '.join(VARIABLE_PATHS)}); found {sorted(f.keys())}"
    )


def _dim_names(var: h5py.Dataset) -> list[str]:
    """Dimension names from ``DimensionNames`` (GPM convention) or the netCDF-4 dimension scales."""
    if "DimensionNames" in var.attrs:
        return [d.strip() for d in _text(var.attrs["DimensionNames"]).split(",")]
    names = []
    for dim in var.dims:
        scales = list(dim.values())
        names.append(scales[0].name.rsplit("/", 1)[-1] if scales else "")
    return names


def _coordinate(f: h5py.File, var: h5py.Dataset, name: str, path: Path) -> NDArray[np.float64]:
    parent = var.parent
    for candidate in (parent.get(name), f.get(name)):
        if isinstance(candidate, h5py.Dataset):
            return np.asarray(candidate[...], dtype=np.float64)
    raise GranuleFormatError(path, f"coordinate {name!r} missing")


def snap_to_centres(
    values: NDArray[np.floating], origin: float, path: Path, axis: str
) -> NDArray[np.float64]:
    """Exact 0.1 degree cell centres for float32 coordinates; error if they are off the grid."""
    index = np.round((values - origin) / RESOLUTION - 0.5)
    centres = origin + (index + 0.5) * RESOLUTION
    if np.any(np.abs(centres - values) > 0.1 * RESOLUTION):
        raise GranuleFormatError(path, f"{axis} coordinates are not 0.1 degree IMERG cell centres")
    return centres


def _as_yx(
    var: h5py.Dataset, path: Path, sizes: dict[str, int], select: dict[str, slice]
) -> NDArray[np.float32]:
    """The single time step, ``select``-ed on lon/lat, as (lat, lon) float32 with fill as NaN."""
    dims = _dim_names(var)
    if sorted(dims) != ["lat", "lon", "time"]:
        raise GranuleFormatError(path, f"{var.name} has dims {dims}, expected (time, lon, lat)")
    if var.shape[dims.index("time")] != 1:
        raise GranuleFormatError(
            path, f"{var.name} has {var.shape[dims.index('time')]} time steps, expected 1"
        )
    for dim, size in sizes.items():
        if var.shape[dims.index(dim)] != size:
            raise GranuleFormatError(
                path, f"{var.name} has {var.shape[dims.index(dim)]} {dim} cells, {dim} has {size}"
            )
    hyperslab = tuple(select.get(dim, slice(None)) for dim in dims)
    data = np.asarray(var[hyperslab], dtype=np.float32)  # only the window is read from disk
    data = np.moveaxis(data, [dims.index("time"), dims.index("lat"), dims.index("lon")], [0, 1, 2])[0]
    fill = var.attrs.get("_FillValue")
    bad = data < 0  # IMERG fill is -9999.9; no real precipitation is negative
    if fill is not None:
        bad |= data == np.float32(np.ravel(fill)[0])
    return np.where(bad, np.nan, data).astype(np.float32)


def read_imerg(path: str | Path, window: RegionGrid | None = None) -> xr.DataArray:
    """Read an IMERG granule's precipitation as a north-up ``(y, x)`` DataArray on EPSG:4326.

    Args:
        path: the granule.
        window: read only the cells covering this EASE-Grid 2.0 area (e.g. ``region.fine``) plus
            a margin of ``WINDOW_MARGIN`` degrees for bilinear weights; None reads the globe.

    Returns:
        float32 DataArray named ``precip``, coords ``y`` (lat, north to south) and ``x`` (lon),
        ``attrs``: ``units`` (``mm/day`` for daily files, ``mm/hr`` for half-hourly, as the file
        says), ``run`` (Final/Late/Early from the name), ``day``, ``variable``, ``source``,
        ``granule_id``.

    Raises:
        GranuleFormatError: unreadable file, no precipitation variable, wrong dims.
        GranuleRegionError: the granule has no cell near ``window``.
    """
    path = Path(path)
    f = open_hdf5(path, "netCDF-4/HDF5")
    try:
        var = _find_variable(f, path)
        data, lat, lon = _read_window(f, var, window, path)
        units = _text(var.attrs.get("units", var.attrs.get("Units", "")))
        variable = var.name.lstrip("/")
    finally:
        f.close()
    return _as_dataarray(path, data, lat, lon, units, variable)


def _read_window(
    f: h5py.File, var: h5py.Dataset, window: RegionGrid | None, path: Path
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float64]]:
    """The precipitation over ``window`` (lat, lon order) with its cell-centre lat and lon."""
    try:
        lat = snap_to_centres(_coordinate(f, var, "lat", path), SOUTH, path, "lat")
        lon = snap_to_centres(_coordinate(f, var, "lon", path), WEST, path, "lon")
        select = lonlat_window(lon, lat, window, path, WINDOW_MARGIN)
        data = _as_yx(var, path, {"lon": lon.size, "lat": lat.size}, select)
    except (OSError, ValueError) as err:  # truncated or corrupt: opens, then a chunk read fails
        raise GranuleFormatError(path, f"data cannot be read ({err})") from err
    lat, lon = lat[select["lat"]], lon[select["lon"]]
    if data.shape != (lat.size, lon.size):
        raise GranuleFormatError(
            path, f"precipitation shape {data.shape} does not match lat/lon {(lat.size, lon.size)}"
        )
    return data, lat, lon


def _as_dataarray(
    path: Path, data: NDArray[np.float32], lat: NDArray, lon: NDArray, units: str, variable: str
) -> xr.DataArray:
    """North-up DataArray on EPSG:4326 with the attributes of :func:`read_imerg`."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    order = np.argsort(-lat)  # north-up
    da = xr.DataArray(data[order], dims=("y", "x"), coords={"y": lat[order], "x": lon}, name="precip")
    official = imerg_name(path.name)
    daily = official is not None and not official.half_hourly
    da.attrs.update(
        units=units or ("mm/day" if daily else "mm/hr"),
        run=official.run if official else "",
        day=official.day.isoformat() if official else "",
        variable=variable,
        source=str(path),
        granule_id=path.name,
    )
    return da.rio.write_crs("EPSG:4326")
