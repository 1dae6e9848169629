"""Static maps (elevation, sand, silt, clay) from GeoTIFFs in any CRS, and slope.

The archive contract (design, "Local archive contract") names ``static/elevation.tif`` (m) and
``static/sand.tif``, ``static/silt.tif``, ``static/clay.tif`` (percent), in any CRS. The reader
returns the band on its own grid with nodata as NaN; :func:`smprod.grids.reproject.to_fine` puts it on
the region's 1 km grid. Slope is derived **after** that reprojection, from the 1 km elevation,
so it is consistent with the grid the model sees.

EASE-Grid 2.0 is equal-area, not conformal: a projected metre is not a ground metre away from
the standard parallels (30 N/S). :func:`slope_degrees` therefore divides the projected cell size
by the projection's scale factors along the parallel (k) and the meridian (h), taken from PROJ
for each row; at 35 degrees k is about 1.06, an error that would otherwise reach 6%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from pyproj import Proj

from smprod.errors import GranuleFormatError
from smprod.grids.ease import EPSG, RegionGrid, xy_to_lonlat

#: Units of the static layers named by the archive contract.
STATIC_UNITS = {"elevation": "m", "sand": "percent", "silt": "percent", "clay": "percent"}


def read_static(path: str | Path, name: str | None = None) -> xr.DataArray:
    """First band of a GeoTIFF as float32 with nodata as NaN, on its own grid and CRS.

    Args:
        path: the GeoTIFF.
        name: variable name (default: the file stem, e.g. ``elevation``); sets ``units`` for
            the names of the archive contract.

    Raises:
        GranuleFormatError: unreadable file or no CRS.
    """
    import rasterio
    import rioxarray

    path = Path(path)
    name = name or path.stem
    try:
        opened = rioxarray.open_rasterio(path, masked=True)
        if not isinstance(opened, xr.DataArray):
            raise GranuleFormatError(path, "not a single-raster GeoTIFF")
        with opened as da:
            band = da.isel(band=0, drop=True).astype(np.float32).load()
    except (rasterio.errors.RasterioError, OSError) as err:
        raise GranuleFormatError(path, f"not a readable GeoTIFF ({err})") from err
    if band.rio.crs is None:
        raise GranuleFormatError(path, "GeoTIFF without a CRS: cannot be placed on the grid")
    band.name = name
    band.attrs = {"units": STATIC_UNITS.get(name, ""), "source": str(path), "granule_id": path.name}
    return band


def ground_cell_size(grid: RegionGrid) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ground size (m) of a cell along x and along y for every row of ``grid`` (EPSG:6933 scale factors)."""
    lon, lat = xy_to_lonlat(np.full(grid.nrows, grid.x[grid.ncols // 2]), grid.y)
    factors = Proj(f"EPSG:{EPSG}").get_factors(lon, lat)
    return grid.res / np.asarray(factors.parallel_scale), grid.res / np.asarray(factors.meridional_scale)


def slope_degrees(elevation: NDArray[np.floating], grid: RegionGrid) -> NDArray[np.float32]:
    """Terrain slope (degrees) of an elevation field (m) on ``grid`` (normally ``region.fine``).

    Central differences (``np.gradient``; one-sided at the edges) over the ground cell size;
    cells next to missing elevation are NaN.
    """
    elevation = np.asarray(elevation, dtype=np.float64)
    if elevation.shape != grid.shape:
        raise ValueError(f"elevation shape {elevation.shape} != grid shape {grid.shape}")
    dx, dy = ground_cell_size(grid)
    dz_row, dz_col = np.gradient(elevation)  # per cell, along rows (y) and columns (x)
    gradient = np.hypot(dz_col / dx[:, None], dz_row / dy[:, None])
    return np.degrees(np.arctan(gradient)).astype(np.float32)
