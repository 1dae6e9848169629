"""Native granule grids -> the region's EASE-Grid 2.0 grids (EPSG:6933).

Readers return fields on their native grids (MODIS sinusoidal 926.6 m / 463.3 m tiles, the
IMERG 0.1 degree lat/lon grid, static GeoTIFFs in any CRS, SMAP on EASE-Grid 2.0). This module
puts them on ``region.fine`` (1 km) with rasterio/GDAL warping, the destination transform being
exactly ``region.fine.transform`` so every output cell is a cell of :mod:`smprod.grids.ease`. The
coarse grid is then derived from the 1 km field by :func:`smprod.grids.regrid.block_mean` /
:func:`smprod.grids.regrid.block_mode`; SMAP, already on EASE-Grid 2.0, is windowed directly
(:func:`smap_to_coarse`). The MODIS tiles of a region, each put on ``region.fine``, are joined by
:func:`mosaic`.

Resampling per field (design, "read + grid"): ``average`` (area-weighted mean of valid source
cells) for continuous MODIS fields and static maps, ``bilinear`` for precipitation, ``mode`` for
land-cover classes. Missing values never take part: float fields use NaN as nodata, class fields
their integer nodata (-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import rasterio.crs
import xarray as xr
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from smprod.errors import GranuleFormatError, GranuleRegionError, GridError
from smprod.grids.ease import EPSG, X0, Y0, Region, RegionGrid
from smprod.grids.regrid import block_mean

#: Resampling names accepted by :func:`to_fine`.
METHODS = {
    "average": Resampling.average,
    "bilinear": Resampling.bilinear,
    "mode": Resampling.mode,
    "nearest": Resampling.nearest,
}
#: Variables of an SMAP dataset carried to the coarse grid.
SMAP_VARIABLES = ("sm", "sm_am", "sm_pm")

T = TypeVar("T", xr.DataArray, xr.Dataset)
_EASE = rasterio.crs.CRS.from_epsg(EPSG)


def on_grid(
    values: NDArray, grid: RegionGrid, name: str | None = None, attrs: dict | None = None
) -> xr.DataArray:
    """Wrap a ``grid``-shaped array as a DataArray with EASE-Grid 2.0 coords and CRS."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    if values.shape != grid.shape:
        raise GridError(f"array shape {values.shape} != grid shape {grid.shape}")
    da = xr.DataArray(values, dims=("y", "x"), coords=grid.coords(), name=name, attrs=dict(attrs or {}))
    return da.rio.write_crs(f"EPSG:{EPSG}").rio.write_transform(grid.transform)


def _source(da: xr.DataArray) -> str:
    return str(da.attrs.get("source", da.name or "<array>"))


def _check_overlap(da: xr.DataArray, grid: RegionGrid) -> None:
    """Raise GranuleRegionError if ``da`` does not cover any part of ``grid``."""
    crs = da.rio.crs
    if crs is None:
        raise GranuleFormatError(_source(da), "no CRS: cannot reproject")
    left, bottom, right, top = transform_bounds(_EASE, crs, *grid.bounds, densify_pts=21)
    s_left, s_bottom, s_right, s_top = da.rio.bounds()
    if left >= s_right or right <= s_left or bottom >= s_top or top <= s_bottom:
        raise GranuleRegionError(
            _source(da), f"does not intersect the region (grid bounds {grid.bounds} in EPSG:{EPSG})"
        )


def _warp(da: xr.DataArray, grid: RegionGrid, method: str) -> xr.DataArray:
    if method not in METHODS:
        raise ValueError(f"unknown resampling {method!r}; use one of {sorted(METHODS)}")
    _check_overlap(da, grid)
    is_float = np.issubdtype(da.dtype, np.floating)
    nodata = np.nan if is_float else da.rio.nodata
    if nodata is None:
        raise GranuleFormatError(_source(da), f"integer field {da.name!r} without nodata")
    dtype = np.float32 if is_float else da.dtype
    out = np.full(grid.shape, nodata, dtype=dtype)
    reproject(
        source=np.ascontiguousarray(da.values.astype(dtype)),
        destination=out,
        src_transform=da.rio.transform(recalc=True),
        src_crs=da.rio.crs,
        src_nodata=nodata,
        dst_transform=grid.transform,
        dst_crs=_EASE,
        dst_nodata=nodata,
        resampling=METHODS[method],
    )
    name = str(da.name) if da.name is not None else None
    result = on_grid(out, grid, name=name, attrs={**da.attrs, "resampling": method})
    return result if is_float else result.rio.write_nodata(nodata)


def to_fine(data: T, region: Region, method: str = "average") -> T:
    """Reproject a native-grid field (DataArray or every variable of a Dataset) onto ``region.fine``.

    Args:
        data: reader output with its CRS written (rioxarray) and dims ``y, x``.
        region: the product region.
        method: ``average`` (continuous MODIS / static), ``bilinear`` (precipitation), ``mode``
            (land cover; integer data with nodata), or ``nearest``.

    Raises:
        GranuleRegionError: the granule does not intersect the region.
        GranuleFormatError: the field has no CRS, or is integer without nodata.
    """
    if isinstance(data, xr.Dataset):
        out = xr.Dataset(
            {
                name: _warp(
                    data[name].assign_attrs(source=data.attrs.get("source", name)), region.fine, method
                )
                for name in data.data_vars
            }
        )
        out.attrs.update(data.attrs)
        return out
    return _warp(data, region.fine, method)


def mosaic(tiles: Sequence[NDArray], nodata: float = np.nan) -> NDArray:
    """Mosaic tiles already on the same grid (:func:`to_fine` of each MODIS tile): per cell the
    first tile's valid value.

    MODIS tiles do not overlap on the sinusoidal grid; they meet only at reprojected borders,
    where the first tile with a valid value wins. Valid means finite, or (``nodata`` not NaN, for
    class fields such as land cover) not ``nodata``.
    """
    if not tiles:
        raise ValueError("no tiles to mosaic")
    out = np.array(tiles[0], copy=True)
    for tile in tiles[1:]:
        hole = ~np.isfinite(out) if np.isnan(nodata) else out == nodata
        out = np.where(hole, tile, out)
    return out


def _grid_of(ds: xr.Dataset, km: int) -> RegionGrid:
    """The EASE-Grid 2.0 window that ``ds``'s cell-centre coordinates occupy at ``km``."""
    from smprod.grids.ease import CELL_SIZE

    res = CELL_SIZE[km]
    col0 = round((float(ds.x.values[0]) - X0) / res - 0.5)
    row0 = round((Y0 - float(ds.y.values[0])) / res - 0.5)
    return RegionGrid(km, row0, col0, ds.sizes["y"], ds.sizes["x"])


def smap_to_coarse(ds: xr.Dataset, region: Region) -> xr.Dataset:
    """SMAP ``sm``, ``sm_am``, ``sm_pm`` on ``region.coarse`` without resampling.

    When the SMAP grid equals the coarse grid the region's window is taken as is; a 9 km
    SPL3SMP_E field on a 36 km coarse grid is aggregated with :func:`smprod.grids.regrid.block_mean`
    (mean of valid 9 km cells, the 50% rule).

    Args:
        ds: output of :func:`smprod.inputs.readers.smap.read_smap_l3` (global or a window).
        region: the product region.

    Raises:
        GridError: the SMAP grid is coarser than, or does not nest in, the coarse grid.
        GranuleRegionError: ``ds`` does not cover the whole region.
    """
    km = int(ds.attrs["grid_km"])
    coarse = region.coarse
    if coarse.km % km:
        raise GridError(f"SMAP {km} km grid does not nest in the region's {coarse.km} km coarse grid")
    have = _grid_of(ds, km)
    want = coarse.refine(km)
    r, c = want.row0 - have.row0, want.col0 - have.col0
    if r < 0 or c < 0 or r + want.nrows > have.nrows or c + want.ncols > have.ncols:
        raise GranuleRegionError(
            str(ds.attrs.get("source", "")), f"SMAP window {have} does not cover the region {want}"
        )
    factor = coarse.km // km
    out = xr.Dataset(attrs=dict(ds.attrs))
    for name in SMAP_VARIABLES:
        values = ds[name].values[r : r + want.nrows, c : c + want.ncols]
        if factor > 1:
            values = block_mean(values, factor).astype(np.float32)
        out[name] = on_grid(values, coarse, name=name, attrs=ds[name].attrs)
    out.attrs["grid_km"] = coarse.km
    return out.rio.write_crs(f"EPSG:{EPSG}")
