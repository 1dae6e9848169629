"""GOSIF solar-induced chlorophyll fluorescence (Li & Xiao 2019), the 8-day and monthly GeoTIFFs.

Format (Li, X. and Xiao, J., 2019, "A global, 0.05-degree product of solar-induced chlorophyll
fluorescence derived from OCO-2, MODIS, and reanalysis data", Remote Sensing 11, 517; the
distribution's README at globalecology.unh.edu): one band of int16 on the global 0.05 degree
lat/lon grid, EPSG:4326, 7200 x 3600 cells from -180..180 and 90..-90 (north-up); value x
:data:`SCALE` = SIF at 757 nm in W m-2 um-1 sr-1; :data:`WATER` (32767) marks water and
:data:`SNOW_ICE` (32766) snow and ice. Both codes are read as NaN: there is no fluorescence
to measure there, and the features fill such pixels as they fill MODIS gaps (a lake stays
filled from its shores; :mod:`smprod.science.features`). Names: ``GOSIF_YYYYDDD.tif`` (8-day
composite starting on day of year DDD) and ``GOSIF_YYYY.Mmm.tif`` (monthly), parsed by
:func:`smprod.inputs.granules.parse_name`.

**Windows.** A file need not be global: any single-band int16 GeoTIFF whose cells are cells of
the global 0.05 degree lattice (cell size 0.05 degrees, origin a whole number of cells from
-180/90, inside the globe) is read the same way, so a GeoTIFF cut to a region (the synthetic
worlds write one around their region plus a margin) and the 50 MB global file give the same
values where both have cells. Only the window the region needs is read
(:func:`smprod.inputs.readers.lonlat_window`, with :data:`WINDOW_MARGIN` for bilinear weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from smprod.errors import GranuleFormatError
from smprod.grids.ease import RegionGrid
from smprod.inputs.granules import NAME_FORMS, GranuleName, parse_name
from smprod.inputs.readers import lonlat_window

#: Scale of the stored int16 to W m-2 um-1 sr-1 (GOSIF README: "scale factor 0.0001").
SCALE = 0.0001
#: Stored codes that are not values (GOSIF README): water, and snow or ice.
WATER, SNOW_ICE = 32767, 32766
UNITS = "W m-2 um-1 sr-1"
#: The global lattice: cell size (degrees), west and north edges, global shape (rows, cols).
RESOLUTION = 0.05
WEST, NORTH = -180.0, 90.0
GLOBAL_SHAPE = (3600, 7200)
#: How far (in cells) a file's origin and cell size may be from the lattice (float GeoTIFF tags).
LATTICE_TOLERANCE = 1e-6
#: Extra degrees read around a window (two cells), so bilinear interpolation at its edge has neighbours.
WINDOW_MARGIN = 0.1


def gosif_name(name: str) -> GranuleName | None:
    """The parsed GOSIF name (8-day or monthly), or None."""
    granule = parse_name(name)
    return granule if granule is not None and granule.family == "SIF" else None


@dataclass(frozen=True)
class LatticeWindow:
    """Where a GOSIF file's cells sit on the global lattice: first row and column, and its shape."""

    row0: int
    col0: int
    nrows: int
    ncols: int

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre longitudes (west to east) and latitudes (north to south) of the file."""
        lon = WEST + (self.col0 + np.arange(self.ncols) + 0.5) * RESOLUTION
        lat = NORTH - (self.row0 + np.arange(self.nrows) + 0.5) * RESOLUTION
        return lon.astype(np.float64), lat.astype(np.float64)


def lattice_window(
    path: Path, epsg: int | None, transform: tuple[float, ...], shape: tuple[int, int], dtype: str, count: int
) -> LatticeWindow:
    """Check a GeoTIFF header against the GOSIF layout (module docstring) and place it on the lattice.

    Args:
        epsg: the file's CRS as an EPSG code (None when it has none or another kind).
        transform: rasterio's affine ``(a, b, c, d, e, f)``.
        shape: (rows, cols); ``dtype`` and ``count``: of its bands.

    Raises:
        GranuleFormatError: naming what differs from the layout.
    """
    if epsg != 4326:
        raise GranuleFormatError(path, f"CRS is EPSG:{epsg}, not EPSG:4326 (GOSIF is on a lat/lon grid)")
    if count != 1 or dtype != "int16":
        raise GranuleFormatError(path, f"{count} band(s) of {dtype}; GOSIF has one band of int16")
    a, b, c, d, e, f = transform[:6]
    cells = ((a - RESOLUTION) / RESOLUTION, (-e - RESOLUTION) / RESOLUTION, b, d)
    if any(abs(v) > LATTICE_TOLERANCE for v in cells):
        raise GranuleFormatError(
            path, f"cells of {a} x {-e} degrees (rotation {b}, {d}); GOSIF has 0.05 degree cells"
        )
    col0, row0 = (c - WEST) / RESOLUTION, (NORTH - f) / RESOLUTION
    if abs(col0 - round(col0)) > LATTICE_TOLERANCE or abs(row0 - round(row0)) > LATTICE_TOLERANCE:
        raise GranuleFormatError(path, f"origin ({c}, {f}) is not on the global 0.05 degree lattice")
    window = LatticeWindow(round(row0), round(col0), *shape)
    if (
        window.row0 < 0
        or window.col0 < 0
        or window.row0 + shape[0] > GLOBAL_SHAPE[0]
        or window.col0 + shape[1] > GLOBAL_SHAPE[1]
    ):
        raise GranuleFormatError(
            path, f"{shape[0]} x {shape[1]} cells from ({c}, {f}) reach beyond the globe"
        )
    return window


def physical(stored: NDArray[np.int16]) -> NDArray[np.float32]:
    """Stored int16 -> W m-2 um-1 sr-1, with the water and snow/ice codes as NaN."""
    values = stored.astype(np.float32) * np.float32(SCALE)
    return np.where((stored == WATER) | (stored == SNOW_ICE), np.float32(np.nan), values).astype(np.float32)


def read_gosif(path: str | Path, window: RegionGrid | None = None) -> xr.DataArray:
    """Read a GOSIF GeoTIFF as a north-up ``(y, x)`` DataArray of SIF on EPSG:4326.

    Args:
        path: the file (official name: module docstring).
        window: read only the cells covering this EASE-Grid 2.0 area (e.g. ``region.fine``) plus
            :data:`WINDOW_MARGIN`; None reads the whole file.

    Returns:
        float32 DataArray named ``sif`` (NaN over water and snow/ice), coords ``y`` (lat), ``x``
        (lon) at the cell centres; ``attrs``: ``units``, ``day`` (the composite's first day),
        ``product``, ``source``, ``granule_id``.

    Raises:
        GranuleFormatError: not a GOSIF name, unreadable, or not the GOSIF layout.
        GranuleRegionError: the file has no cell near ``window``.
    """
    path = Path(path)
    granule = gosif_name(path.name)
    if granule is None:
        raise GranuleFormatError(path, f"not a GOSIF file name; expected {NAME_FORMS['SIF']}")
    stored, lon, lat = _read_stored(path, window)
    return _as_dataarray(path, granule, physical(stored), lon, lat)


def _read_stored(
    path: Path, window: RegionGrid | None
) -> tuple[NDArray[np.int16], NDArray[np.float64], NDArray[np.float64]]:
    """The stored values over ``window`` with their cell-centre lon and lat."""
    import rasterio
    from rasterio.windows import Window

    if not path.is_file():
        raise GranuleFormatError(path, "file does not exist")
    try:
        with rasterio.open(path) as ds:
            lattice = lattice_window(
                path, _epsg(ds.crs), tuple(ds.transform), ds.shape, ds.dtypes[0], ds.count
            )
            lon, lat = lattice.centres()
            select = lonlat_window(lon, lat, window, path, WINDOW_MARGIN)
            rows, cols = select["lat"].indices(lat.size), select["lon"].indices(lon.size)
            box = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
            stored = ds.read(1, window=box)
    except (rasterio.errors.RasterioError, OSError) as err:
        raise GranuleFormatError(path, f"not a readable GeoTIFF ({err})") from err
    return stored, lon[select["lon"]], lat[select["lat"]]


def _epsg(crs: Any) -> int | None:
    return None if crs is None else crs.to_epsg()


def _as_dataarray(
    path: Path, granule: GranuleName, values: NDArray[np.float32], lon: NDArray, lat: NDArray
) -> xr.DataArray:
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    da = xr.DataArray(values, dims=("y", "x"), coords={"y": lat, "x": lon}, name="sif")
    da.attrs.update(
        units=UNITS,
        day=granule.day.isoformat(),
        product=granule.product,
        source=str(path),
        granule_id=path.name,
    )
    return da.rio.write_crs("EPSG:4326")
