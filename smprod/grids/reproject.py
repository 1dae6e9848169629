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

Ingest, which needs only the values, goes the same way without xarray: a windowed reader's
:class:`NativeFields` through :func:`fields_to_fine`, SMAP arrays through
:func:`smap_arrays_to_coarse`; the pixels are those of :func:`to_fine` and :func:`smap_to_coarse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import numpy as np
import rasterio.crs
import xarray as xr
from affine import Affine
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


#: Attributes rioxarray's ``write_crs``/``write_transform`` remove from a variable (:func:`on_grid`).
_RIO_DROPPED_ATTRS = ("crs", "grid_mapping", "transform")


@lru_cache(maxsize=256)
def _grid_template(grid: RegionGrid) -> xr.DataArray:
    """An empty DataArray on ``grid`` with the coords, CRS and transform rioxarray writes.

    Made once per grid (parsing the CRS and aligning coordinates costs milliseconds per call,
    which was most of ingest's time); :func:`on_grid` copies it around new values.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    empty = np.broadcast_to(np.zeros((), dtype=np.float32), grid.shape)
    da = xr.DataArray(empty, dims=("y", "x"), coords=grid.coords())
    return da.rio.write_crs(f"EPSG:{EPSG}").rio.write_transform(grid.transform)


def on_grid(
    values: NDArray, grid: RegionGrid, name: str | None = None, attrs: dict | None = None
) -> xr.DataArray:
    """Wrap a ``grid``-shaped array as a DataArray with EASE-Grid 2.0 coords and CRS.

    The same object as ``DataArray(...).rio.write_crs("EPSG:6933").rio.write_transform(...)``
    (coords, ``spatial_ref`` attributes, ``grid_mapping`` encoding), built from a per-grid
    template instead of rioxarray's calls.
    """
    values = np.asarray(values)
    if values.shape != grid.shape:
        raise GridError(f"array shape {values.shape} != grid shape {grid.shape}")
    da = _grid_template(grid).copy(deep=False, data=values)
    da.name = name
    da.attrs = {k: v for k, v in (attrs or {}).items() if k not in _RIO_DROPPED_ATTRS}
    return da


def _source(da: xr.DataArray) -> str:
    return str(da.attrs.get("source", da.name or "<array>"))


@lru_cache(maxsize=64)
def _region_bounds_in(crs: rasterio.crs.CRS, grid: RegionGrid) -> tuple[float, float, float, float]:
    """``grid``'s bounds in ``crs`` (edges densified), as the overlap check and windows use them."""
    return tuple(transform_bounds(_EASE, crs, *grid.bounds, densify_pts=21))  # type: ignore[return-value]


def _check_bounds(
    bounds: tuple[float, float, float, float], crs: rasterio.crs.CRS | None, grid: RegionGrid, source: str
) -> None:
    """Raise GranuleRegionError if a field of ``bounds`` in ``crs`` does not cover any part of ``grid``."""
    if crs is None:
        raise GranuleFormatError(source, "no CRS: cannot reproject")
    left, bottom, right, top = _region_bounds_in(crs, grid)
    s_left, s_bottom, s_right, s_top = bounds
    if left >= s_right or right <= s_left or bottom >= s_top or top <= s_bottom:
        raise GranuleRegionError(
            source, f"does not intersect the region (grid bounds {grid.bounds} in EPSG:{EPSG})"
        )


def _check_overlap(da: xr.DataArray, grid: RegionGrid) -> None:
    """Raise GranuleRegionError if ``da`` does not cover any part of ``grid``."""
    _check_bounds(da.rio.bounds(), da.rio.crs, grid, _source(da))


def _reproject(
    values: NDArray,
    transform: Affine,
    crs: rasterio.crs.CRS,
    grid: RegionGrid,
    method: str,
    nodata: float | int | None,
    source: str,
    name: object,
) -> NDArray:
    """``values`` warped onto ``grid`` (float fields as float32 with NaN, integer ones with ``nodata``)."""
    is_float = np.issubdtype(values.dtype, np.floating)
    if is_float:
        nodata = np.nan
    if nodata is None:
        raise GranuleFormatError(source, f"integer field {name!r} without nodata")
    dtype = np.float32 if is_float else values.dtype
    out = np.full((*values.shape[:-2], *grid.shape), nodata, dtype=dtype)
    reproject(
        source=np.ascontiguousarray(values.astype(dtype)),
        destination=out,
        src_transform=transform,
        src_crs=crs,
        src_nodata=nodata,
        dst_transform=grid.transform,
        dst_crs=_EASE,
        dst_nodata=nodata,
        resampling=METHODS[method],
        # bands of one call (fields_to_fine) are warped each with its own nodata mask, exactly
        # as separate calls (GDAL's default would treat a pixel as nodata only in all bands)
        UNIFIED_SRC_NODATA="NO",
    )
    return out


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown resampling {method!r}; use one of {sorted(METHODS)}")


def _warp(da: xr.DataArray, grid: RegionGrid, method: str) -> xr.DataArray:
    _check_method(method)
    _check_overlap(da, grid)
    is_float = np.issubdtype(da.dtype, np.floating)
    nodata = None if is_float else da.rio.nodata
    out = _reproject(
        da.values, da.rio.transform(recalc=True), da.rio.crs, grid, method, nodata, _source(da), da.name
    )
    name = str(da.name) if da.name is not None else None
    result = on_grid(out, grid, name=name, attrs={**da.attrs, "resampling": method})
    return result if is_float else result.rio.write_nodata(nodata)


@dataclass(frozen=True)
class NativeFields:
    """Fields of one granule on its native grid, or on a window of it, as plain arrays.

    What a windowed reader returns (:func:`smprod.inputs.readers.modis.read_modis_window`) for
    :func:`fields_to_fine`, without the xarray objects :func:`to_fine` takes.

    Attributes:
        values: name -> 2-D array (all of one shape, on one grid).
        transform: the pixel-corner transform of ``values`` as :func:`to_fine` warps with (that of
            the whole grid's coordinates, shifted to the window).
        crs: the native CRS.
        source: the file, for error messages.
        nodata: name -> nodata of an integer field (float fields: NaN).
        bounds: (left, bottom, right, top) for the overlap check; None: the outer pixel edges
            of ``transform`` (a whole tile read through xarray keeps rioxarray's bounds).
    """

    values: Mapping[str, NDArray]
    transform: Affine
    crs: rasterio.crs.CRS
    source: str
    nodata: Mapping[str, float | int] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None

    def extent(self) -> tuple[float, float, float, float]:
        """``bounds``, or (left, bottom, right, top) of the fields' outer pixel edges."""
        if self.bounds is not None:
            return self.bounds
        rows, cols = next(iter(self.values.values())).shape
        t = self.transform
        xs, ys = (t.c, t.c + t.a * cols), (t.f, t.f + t.e * rows)
        return (min(xs), min(ys), max(xs), max(ys))


def fields_to_fine(native: NativeFields, region: Region, method: str = "average") -> dict[str, NDArray]:
    """:func:`to_fine` of plain arrays: every field of ``native`` on ``region.fine``, as numpy.

    The values are those :func:`to_fine` gives for the same fields read whole (a window that
    holds every source pixel the warp reads gives the same pixels); no xarray object is made.

    Raises:
        GranuleRegionError: the fields do not intersect the region.
        GranuleFormatError: an integer field without nodata.
    """
    _check_method(method)
    _check_bounds(native.extent(), native.crs, region.fine, native.source)
    warp = native.transform, native.crs, region.fine, method
    out: dict[str, NDArray] = {}
    floats = [name for name, values in native.values.items() if np.issubdtype(values.dtype, np.floating)]
    if len(floats) > 1:  # one GDAL call for all of them: its set-up is most of a small warp's cost
        stack = np.stack([native.values[name].astype(np.float32) for name in floats])
        out.update(zip(floats, _reproject(stack, *warp, None, native.source, floats[0]), strict=True))
    for name, values in native.values.items():
        if name not in out:
            out[name] = _reproject(values, *warp, native.nodata.get(name), native.source, name)
    return {name: out[name] for name in native.values}


#: Source pixels added on each side of a window (:func:`source_window`) beyond the region's
#: bounds, per destination pixel of the region's width in source pixels, plus a fixed few: the
#: averaging kernel of a 1 km pixel covers about 2.2 pixels of 463 m, so this is several times
#: what the warp reads; tests check the windowed warp equals the whole one.
WINDOW_MARGIN_PIXELS = 4


def source_window(
    transform: Affine, shape: tuple[int, int], crs: rasterio.crs.CRS, grid: RegionGrid
) -> tuple[slice, slice] | None:
    """The rows and columns of a native raster (``transform``, ``shape``, ``crs``) that warping
    onto ``grid`` can read: ``grid``'s bounds in ``crs`` plus a margin, clipped to the raster;
    None when they do not overlap (then the whole raster is read, and the overlap check says so).
    """
    left, bottom, right, top = _region_bounds_in(crs, grid)
    inverse = ~transform
    corners = [inverse * xy for xy in ((left, top), (right, top), (left, bottom), (right, bottom))]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    src_res = min(abs(transform.a), abs(transform.e))
    margin = WINDOW_MARGIN_PIXELS + 2 * int(np.ceil(grid.res / src_res))
    r0 = max(0, int(np.floor(min(rows))) - margin)
    r1 = min(shape[0], int(np.ceil(max(rows))) + margin)
    c0 = max(0, int(np.floor(min(cols))) - margin)
    c1 = min(shape[1], int(np.ceil(max(cols))) + margin)
    if r0 >= r1 or c0 >= c1:
        return None
    return slice(r0, r1), slice(c0, c1)


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
    values = {name: ds[name].values for name in SMAP_VARIABLES}
    coarse = smap_arrays_to_coarse(values, _grid_of(ds, km), region, str(ds.attrs.get("source", "")))
    out = xr.Dataset(attrs=dict(ds.attrs))
    for name in SMAP_VARIABLES:
        out[name] = on_grid(coarse[name], region.coarse, name=name, attrs=ds[name].attrs)
    out.attrs["grid_km"] = region.coarse.km
    return out.rio.write_crs(f"EPSG:{EPSG}")


def smap_arrays_to_coarse(
    values: Mapping[str, NDArray], have: RegionGrid, region: Region, source: str = ""
) -> dict[str, NDArray]:
    """:func:`smap_to_coarse` of plain arrays on the EASE-Grid 2.0 window ``have``.

    Raises:
        GridError: the SMAP grid is coarser than, or does not nest in, the coarse grid.
        GranuleRegionError: ``have`` does not cover the whole region.
    """
    coarse = region.coarse
    if coarse.km % have.km:
        raise GridError(f"SMAP {have.km} km grid does not nest in the region's {coarse.km} km coarse grid")
    want = coarse.refine(have.km)
    r, c = want.row0 - have.row0, want.col0 - have.col0
    if r < 0 or c < 0 or r + want.nrows > have.nrows or c + want.ncols > have.ncols:
        raise GranuleRegionError(source, f"SMAP window {have} does not cover the region {want}")
    factor = coarse.km // have.km
    out = {}
    for name in SMAP_VARIABLES:
        window = values[name][r : r + want.nrows, c : c + want.ncols]
        out[name] = block_mean(window, factor).astype(np.float32) if factor > 1 else window
    return out
