"""MODIS land tiles (HDF4-EOS, sinusoidal): LST, vegetation indices, albedo, land cover.

Each reader opens one tile with pyhdf, applies the product's documented quality rule and
scaling, and returns an ``xarray.Dataset`` on the tile's native sinusoidal grid (dims ``y, x``,
pixel-centre coordinates from ``StructMetadata.0``, CRS written), rejected pixels as NaN. The
product, tile and day come from the official file name (:func:`smprod.inputs.granules.parse_name`);
the tile named there is checked against the grid corners.

Quality rules (bit 0 is the least significant bit):

- MOD11A1/MYD11A1 ``QC_Day``/``QC_Night`` (MOD11 C6.1 User's Guide, Wan, QC table of MOD11A1):
  bits 0-1 mandatory QA (00 LST produced, good quality; 01 produced, other quality, check other
  QA; 10 not produced due to cloud; 11 not produced, other reasons); bits 6-7 LST error
  (00 <= 1 K, 01 <= 2 K, 10 <= 3 K, 11 > 3 K). **Kept:** mandatory 00, or mandatory 01 with LST
  error <= 2 K. Cloudy and not-produced pixels are always rejected.
- MOD13A2 ``1 km 16 days VI Quality`` bits 0-1 MODLAND QA (00 good, 01 check other QA,
  10 probably cloudy, 11 not produced) and ``1 km 16 days pixel reliability`` (0 good,
  1 marginal, 2 snow/ice, 3 cloudy, -1 fill) (MOD13 C6.1 User's Guide, Didan et al., and the
  SDS ``Legend`` attributes of the real files). **Kept:** MODLAND 00 or 01 and, where the
  reliability layer exists, reliability 0 or 1.
- MCD43A3 ``BRDF_Albedo_Band_Mandatory_Quality_shortwave`` (MCD43 C6.1 User's Guide, Schaaf &
  Wang 2021): 0 full BRDF inversion, 1 magnitude inversion, 255 fill. **Kept:** 0 and 1.
- MCD12Q1 ``LC_Type1`` (MCD12 C6.1 User's Guide, Sulla-Menashe & Friedl, IGBP legend): IGBP
  classes 1..17, 255 fill; returned as int16 with -1 for missing.

Scaling: physical = (stored - add_offset) * scale_factor for MOD11 and MCD43 (their attributes
say "data * scale_factor", add_offset 0). MOD13 stores ``scale_factor = 10000`` meaning
*divide* (MOD13 User's Guide: "VI = stored / 10000"); a writer that stores the reciprocal
(0.0001) means the same thing, so the divisor is ``max(sf, 1/sf)``.

Ingest reads a tile through :func:`read_modis_window`: the same rules on only the rows and
columns its region's warp reads, as plain arrays whose warp
(:func:`smprod.grids.reproject.fields_to_fine`) equals that of the whole tile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray

from smprod.errors import GranuleFormatError
from smprod.grids.ease import RegionGrid
from smprod.inputs.granules import NAME_FORMS, GranuleName, parse_name
from smprod.inputs.readers.hdfeos import EosGrid, check_tile, grid_for_field, parse_struct_metadata

if TYPE_CHECKING:
    from smprod.grids.reproject import NativeFields

LST_SDS = {"lst_day": ("LST_Day_1km", "QC_Day"), "lst_night": ("LST_Night_1km", "QC_Night")}
VI_SDS = {"ndvi": "1 km 16 days NDVI", "evi": "1 km 16 days EVI"}
VI_QUALITY_SDS = "1 km 16 days VI Quality"
VI_RELIABILITY_SDS = "1 km 16 days pixel reliability"
ALBEDO_SDS = {"albedo_bsa": "Albedo_BSA_shortwave", "albedo_wsa": "Albedo_WSA_shortwave"}
ALBEDO_QUALITY_SDS = "BRDF_Albedo_Band_Mandatory_Quality_shortwave"
LANDCOVER_SDS = "LC_Type1"

#: MOD11 QC: mandatory QA in bits 0-1, LST error class in bits 6-7 (MOD11 User's Guide, QC table).
LST_MANDATORY_GOOD = 0b00
LST_MANDATORY_OTHER = 0b01
LST_ERROR_MAX_CLASS = 0b01  # 01 = average LST error <= 2 K
#: MOD13 MODLAND QA values kept (00 good, 01 check other QA) and pixel-reliability ranks kept.
VI_MODLAND_KEPT = (0b00, 0b01)
VI_RELIABILITY_KEPT = (0, 1)
#: MCD43 mandatory quality values kept (0 full inversion, 1 magnitude inversion).
ALBEDO_QUALITY_KEPT = (0, 1)
#: IGBP classes of MCD12Q1 LC_Type1 and the nodata used in smprod for land cover.
IGBP_CLASSES = range(1, 18)
#: IGBP class 17, water bodies (ingest's cloud-edge screen takes a gap there for no cloud).
IGBP_WATER = 17
LANDCOVER_NODATA = -1


def modis_name(path: Path) -> GranuleName:
    """The parsed official MODIS name of ``path`` (product, tile, day).

    Raises:
        GranuleFormatError: the file name is not an official MODIS land-tile name.
    """
    granule = parse_name(path.name)
    if granule is None or granule.family != "MODIS":
        raise GranuleFormatError(path, f"not an official MODIS file name ({NAME_FORMS['MODIS']})")
    return granule


# ---------------------------------------------------------------- quality rules (pure)


def lst_quality_ok(qc: NDArray[np.integer]) -> NDArray[np.bool_]:
    """MOD11 QC byte -> keep mask (mandatory 00, or 01 with LST error <= 2 K)."""
    qc = np.asarray(qc).astype(np.uint8)
    mandatory = qc & 0b11
    lst_error = (qc >> 6) & 0b11
    return (mandatory == LST_MANDATORY_GOOD) | (
        (mandatory == LST_MANDATORY_OTHER) & (lst_error <= LST_ERROR_MAX_CLASS)
    )


def vi_quality_ok(
    vi_quality: NDArray[np.integer], reliability: NDArray[np.integer] | None = None
) -> NDArray[np.bool_]:
    """MOD13 VI Quality (and pixel reliability, if given) -> keep mask."""
    modland = np.asarray(vi_quality).astype(np.uint16) & 0b11
    keep = np.isin(modland, VI_MODLAND_KEPT)
    if reliability is not None:
        keep &= np.isin(np.asarray(reliability), VI_RELIABILITY_KEPT)
    return keep


def albedo_quality_ok(mandatory: NDArray[np.integer]) -> NDArray[np.bool_]:
    """MCD43 mandatory quality -> keep mask (0 and 1)."""
    return np.isin(np.asarray(mandatory), ALBEDO_QUALITY_KEPT)


def scale_stored(
    stored: NDArray, attrs: dict[str, Any], *, divide: bool = False, keep: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Stored integers -> float32 physical values; fill, out-of-valid-range and ``~keep`` as NaN.

    Args:
        stored: raw SDS values.
        attrs: the SDS attributes (``scale_factor`` required; ``add_offset``, ``_FillValue`` and
            ``valid_range`` used when present).
        divide: MOD13 convention (``scale_factor`` is a divisor).
        keep: quality mask; False pixels become NaN.
    """
    stored = np.asarray(stored)
    scale = float(attrs["scale_factor"])
    offset = float(attrs.get("add_offset", 0.0))
    valid = np.ones(stored.shape, dtype=bool)
    if isinstance(attrs.get("_FillValue"), int | float | np.number):
        valid &= stored != attrs["_FillValue"]
    if "valid_range" in attrs:
        low, high = attrs["valid_range"][:2]
        valid &= (stored >= low) & (stored <= high)
    if keep is not None:
        valid &= keep
    factor = 1.0 / max(scale, 1.0 / scale) if divide else scale
    values = (stored.astype(np.float64) - offset) * factor
    return np.where(valid, values, np.nan).astype(np.float32)


# ---------------------------------------------------------------- file access


class _WholeTileNeeded(Exception):  # noqa: N818  (a signal, not an error)
    """A windowed read met an SDS not of the grid's shape: the whole read decides (and names) it."""


class _Tile:
    """An open MODIS HDF4-EOS tile: SDS access and the geometry of its grid."""

    def __init__(self, path: Path) -> None:
        from pyhdf.error import HDF4Error
        from pyhdf.SD import SD, SDC

        self.path = path
        #: When set (:func:`read_modis_window`): the rows and columns :meth:`read` returns, of
        #: SDS of ``full_shape`` (another shape: :class:`_WholeTileNeeded`).
        self.window: tuple[slice, slice] | None = None
        self.full_shape: tuple[int, int] | None = None
        if not path.is_file():
            raise GranuleFormatError(path, "file does not exist")
        self.granule = modis_name(path)
        try:
            self.sd = SD(str(path), SDC.READ)
            self.names = set(self.sd.datasets())
            self.global_attrs = self.sd.attributes()
        except HDF4Error as err:
            raise GranuleFormatError(path, f"not a readable HDF4 file ({err})") from err

    def close(self) -> None:
        self.sd.end()

    def read(self, name: str) -> tuple[NDArray, dict[str, Any]]:
        """Values and attributes of one SDS."""
        from pyhdf.error import HDF4Error

        if name not in self.names:
            raise GranuleFormatError(self.path, f"SDS {name!r} missing")
        try:
            sds = self.sd.select(name)
            if self.window is None:
                return np.asarray(sds.get()), sds.attributes()
            if tuple(sds.info()[2]) != self.full_shape:
                raise _WholeTileNeeded(name)
            rows, cols = self.window
            # a hyperslab: only these pixels are scaled, and decompression stops at the last row
            return np.asarray(sds[rows, cols]), sds.attributes()
        except (HDF4Error, ValueError) as err:  # pyhdf raises ValueError when decompression fails
            raise GranuleFormatError(self.path, f"SDS {name!r} cannot be read ({err})") from err

    def read_scaled(self, name: str) -> tuple[NDArray, dict[str, Any]]:
        """Like :meth:`read` for a field that must carry a numeric ``scale_factor``."""
        stored, attrs = self.read(name)
        if not isinstance(attrs.get("scale_factor"), int | float) or attrs["scale_factor"] == 0:
            raise GranuleFormatError(
                self.path, f"SDS {name!r} has no usable scale_factor ({attrs.get('scale_factor')!r})"
            )
        return stored, attrs

    def grid(self, field: str) -> EosGrid:
        """The field's grid, checked against the tile named in the file name."""
        text = self.global_attrs.get("StructMetadata.0")
        if not text:
            raise GranuleFormatError(self.path, "no StructMetadata.0 attribute (not HDF-EOS)")
        try:
            grids = parse_struct_metadata(str(text))
        except ValueError as err:
            raise GranuleFormatError(self.path, f"StructMetadata.0: {err}") from err
        grid = grid_for_field(grids, field, self.path)
        check_tile(grid, self.path, *self.granule.tile_index)
        return grid


def _dataset(tile: _Tile, grid: EosGrid, variables: dict[str, tuple[NDArray, str]]) -> xr.Dataset:
    """Wrap arrays on ``grid`` into a Dataset with coordinates, CRS and provenance attrs."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    path, granule = tile.path, tile.granule
    data_vars = {}
    for name, (values, units) in variables.items():
        if values.shape != (grid.ydim, grid.xdim):
            raise GranuleFormatError(path, f"{name} shape {values.shape} != grid {(grid.ydim, grid.xdim)}")
        data_vars[name] = xr.DataArray(values, dims=("y", "x"), attrs={"units": units})
    ds = xr.Dataset(data_vars, coords={"y": grid.y, "x": grid.x})
    ds.attrs.update(
        source=str(path),
        granule_id=path.name,
        product=granule.product,
        tile=granule.tile or "",
        day=granule.day.isoformat(),
    )
    return ds.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def _with_tile(path: str | Path, reader: Any) -> xr.Dataset:
    tile = _Tile(Path(path))
    try:
        return reader(tile)
    finally:
        tile.close()


# ---------------------------------------------------------------- product readers


def _lst_fields(tile: _Tile) -> dict[str, tuple[NDArray, str]]:
    variables = {}
    for name, (sds, qc_sds) in LST_SDS.items():
        stored, attrs = tile.read_scaled(sds)
        qc, _ = tile.read(qc_sds)
        variables[name] = (scale_stored(stored, attrs, keep=lst_quality_ok(qc)), "K")
    return variables


def _vi_fields(tile: _Tile) -> dict[str, tuple[NDArray, str]]:
    quality, _ = tile.read(VI_QUALITY_SDS)
    reliability = tile.read(VI_RELIABILITY_SDS)[0] if VI_RELIABILITY_SDS in tile.names else None
    keep = vi_quality_ok(quality, reliability)
    variables = {}
    for name, sds in VI_SDS.items():
        stored, attrs = tile.read_scaled(sds)
        variables[name] = (scale_stored(stored, attrs, divide=True, keep=keep), "1")
    return variables


def _albedo_fields(tile: _Tile) -> dict[str, tuple[NDArray, str]]:
    quality, _ = tile.read(ALBEDO_QUALITY_SDS)
    keep = albedo_quality_ok(quality)
    variables = {}
    for name, sds in ALBEDO_SDS.items():
        stored, attrs = tile.read_scaled(sds)
        variables[name] = (scale_stored(stored, attrs, keep=keep), "1")
    return variables


def _landcover_fields(tile: _Tile) -> dict[str, tuple[NDArray, str]]:
    stored, _ = tile.read(LANDCOVER_SDS)
    # int16 before the nodata goes in: the SDS is uint8, where -1 would wrap to 255
    stored = stored.astype(np.int16)
    classes = np.where(np.isin(stored, IGBP_CLASSES), stored, np.int16(LANDCOVER_NODATA))
    return {"landcover": (classes, "IGBP class")}


@dataclass(frozen=True)
class _Product:
    """How one product is read: its fields (QC and scaling applied), the SDS naming its grid,
    and the nodata of integer fields."""

    fields: Callable[[_Tile], dict[str, tuple[NDArray, str]]]
    grid_field: str
    nodata: dict[str, int] = field(default_factory=dict)

    def dataset(self, tile: _Tile) -> xr.Dataset:
        """The whole tile: SDS read (and checked) first, then the grid, as always."""
        ds = _dataset(tile, tile.grid(self.grid_field), self.fields(tile))
        for name, nodata in self.nodata.items():
            ds[name] = ds[name].rio.write_nodata(nodata)
        return ds


_LST = _Product(_lst_fields, LST_SDS["lst_day"][0])
_VI = _Product(_vi_fields, VI_SDS["ndvi"])
_ALBEDO = _Product(_albedo_fields, ALBEDO_SDS["albedo_bsa"])
_LANDCOVER = _Product(_landcover_fields, LANDCOVER_SDS, {"landcover": LANDCOVER_NODATA})


def read_lst(path: str | Path) -> xr.Dataset:
    """MOD11A1/MYD11A1 daily LST: ``lst_day``, ``lst_night`` (K), QC rule in the module doc."""
    return _with_tile(path, _LST.dataset)


def read_vi(path: str | Path) -> xr.Dataset:
    """MOD13A2/MYD13A2 16-day 1 km ``ndvi`` and ``evi`` (unitless), QC rule in the module doc."""
    return _with_tile(path, _VI.dataset)


def read_albedo(path: str | Path) -> xr.Dataset:
    """MCD43A3 500 m shortwave ``albedo_bsa`` and ``albedo_wsa`` (unitless), mandatory quality 0/1."""
    return _with_tile(path, _ALBEDO.dataset)


def read_landcover(path: str | Path) -> xr.Dataset:
    """MCD12Q1 yearly IGBP ``landcover`` (int16 classes 1..17, -1 missing; nodata written)."""
    return _with_tile(path, _LANDCOVER.dataset)


#: Product short name -> how it is read (whole: :func:`read_modis`; windowed: :func:`read_modis_window`).
PRODUCTS = {
    "MOD11A1": _LST,
    "MYD11A1": _LST,
    "MOD13A2": _VI,
    "MYD13A2": _VI,
    "MCD43A3": _ALBEDO,
    "MCD12Q1": _LANDCOVER,
}


def read_modis(path: str | Path) -> xr.Dataset:
    """Read any supported MODIS tile, chosen by the product in its official file name.

    Raises:
        GranuleFormatError: unknown product or name, unreadable file, missing SDS, or corners
            that disagree with the tile in the name.
    """
    path = Path(path)
    return _with_tile(path, PRODUCTS[_supported(path)].dataset)


def _supported(path: Path) -> str:
    product = modis_name(path).product
    if product not in PRODUCTS:
        raise GranuleFormatError(path, f"{product} is not a supported MODIS product {sorted(PRODUCTS)}")
    return product


def read_modis_window(path: str | Path, window: RegionGrid) -> NativeFields:
    """The pixels of a MODIS tile that warping onto ``window`` (normally ``region.fine``) reads.

    Only those rows and columns of each SDS are read (decompression stops at the window's last
    row) and scaled, with the tile's quality rules; the result is plain arrays for
    :func:`smprod.grids.reproject.fields_to_fine`, whose output equals :func:`to_fine` of
    :func:`read_modis` (the whole tile) pixel for pixel: the window is ``window``'s bounds in
    the sinusoidal projection plus a margin for the resampling kernel
    (:func:`smprod.grids.reproject.source_window`), and its transform that of the whole tile
    shifted by whole pixels.

    A tile whose grid metadata is bad, whose SDS are not of the grid's shape, or that does not
    overlap ``window`` is read whole, so it fails (or is refused as outside the region) with the
    same error as :func:`read_modis`. A fault only in rows or columns outside the window is not
    seen (those pixels are never used).

    Raises:
        GranuleFormatError: as :func:`read_modis`.
    """
    path = Path(path)
    product = _supported(path)
    tile = _Tile(path)
    try:
        native = _read_window(tile, PRODUCTS[product], window)
    finally:
        tile.close()
    return native if native is not None else _native_of(read_modis(path))


def _read_window(tile: _Tile, product: _Product, window: RegionGrid) -> NativeFields | None:
    """The windowed fields of an open tile; None when the whole tile must be read instead."""
    from smprod.grids.reproject import NativeFields, source_window

    try:
        grid = tile.grid(product.grid_field)
    except GranuleFormatError:
        return None  # the whole read reports it (after any SDS error, in the usual order)
    transform, crs = _warp_geometry(grid)
    slices = source_window(transform, (grid.ydim, grid.xdim), crs, window)
    if slices is None:
        return None
    tile.window, tile.full_shape = slices, (grid.ydim, grid.xdim)
    try:
        variables = product.fields(tile)
    except _WholeTileNeeded:
        return None
    rows, cols = slices
    return NativeFields(
        {name: values for name, (values, _) in variables.items()},
        transform * Affine.translation(cols.start, rows.start),
        crs,
        str(tile.path),
        dict(product.nodata),
    )


@lru_cache(maxsize=32)
def _warp_geometry(grid: EosGrid) -> tuple[Affine, Any]:
    """The transform and CRS :func:`~smprod.grids.reproject.to_fine` warps a whole tile of
    ``grid`` with (rioxarray's, recalculated from the pixel-centre coordinates)."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    empty = np.broadcast_to(np.zeros((), dtype=np.float32), (grid.ydim, grid.xdim))
    ds = xr.Dataset({"v": (("y", "x"), empty)}, coords={"y": grid.y, "x": grid.x})
    da = ds.rio.write_crs(grid.crs).rio.write_transform(grid.transform)["v"]
    return da.rio.transform(recalc=True), da.rio.crs


def _native_of(ds: xr.Dataset) -> NativeFields:
    """A whole-tile Dataset as :class:`NativeFields`, with what :func:`to_fine` would use."""
    from smprod.grids.reproject import NativeFields

    first = ds[next(iter(ds.data_vars))]
    return NativeFields(
        {str(name): ds[name].values for name in ds.data_vars},
        first.rio.transform(recalc=True),
        first.rio.crs,
        str(ds.attrs.get("source", "")),
        {str(n): ds[n].rio.nodata for n in ds.data_vars if not np.issubdtype(ds[n].dtype, np.floating)},
        bounds=first.rio.bounds(),
    )
