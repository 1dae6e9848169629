"""EASE-Grid 2.0 global grids (EPSG:6933) and the regions smprod produces on.

Constants are those of the NSIDC EASE-Grid 2.0 definition (Brodzik et al. 2012, ISPRS IJGI 1(1)
32-45, Table 4 and the NSIDC "EASE-Grid 2.0 Global" grid parameter page): the cell sizes and
global shapes below are exact multiples, so the 36, 9, 3 and 1 km grids nest exactly
(36 km = 4 x 9 km = 12 x 3 km = 36 x 1 km) and share one corner.

Row 0 is the northernmost row, column 0 the westernmost; cell (r, c) has its centre at
``x = X0 + (c + 0.5) * res``, ``y = Y0 - (r + 0.5) * res``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from smprod.errors import GridError

#: EASE-Grid 2.0 global, cylindrical equal-area on WGS84 (NSIDC).
EPSG = 6933
CRS_EASE2 = CRS.from_epsg(EPSG)
#: Upper-left corner of the global grid, metres (shared by every resolution).
X0 = -17367530.4451615
Y0 = 7314540.8306386

#: Cell size (m) and global shape (rows, cols) per nominal resolution in km.
CELL_SIZE = {
    36: 36032.220840584,
    9: 9008.055210146,
    3: 3002.6850700487,
    1: 1000.89502334956,
}
GLOBAL_SHAPE = {36: (406, 964), 9: (1624, 3856), 3: (4872, 11568), 1: (14616, 34704)}

_TO_LONLAT = Transformer.from_crs(CRS_EASE2, "EPSG:4326", always_xy=True)
_FROM_LONLAT = Transformer.from_crs("EPSG:4326", CRS_EASE2, always_xy=True)


@dataclass(frozen=True)
class EaseGrid:
    """One global EASE-Grid 2.0 resolution."""

    km: int

    SUPPORTED: ClassVar[tuple[int, ...]] = (36, 9, 3, 1)

    def __post_init__(self) -> None:
        if self.km not in CELL_SIZE:
            raise GridError(f"no EASE-Grid 2.0 global grid at {self.km} km; use one of {self.SUPPORTED}")

    @property
    def res(self) -> float:
        """Cell size in metres."""
        return CELL_SIZE[self.km]

    @property
    def shape(self) -> tuple[int, int]:
        """Global (rows, cols)."""
        return GLOBAL_SHAPE[self.km]

    def xy(self, row: NDArray | int, col: NDArray | int) -> tuple[NDArray, NDArray]:
        """Projected centre of cells (row, col)."""
        return X0 + (np.asarray(col) + 0.5) * self.res, Y0 - (np.asarray(row) + 0.5) * self.res

    def rowcol(self, x: NDArray | float, y: NDArray | float) -> tuple[NDArray, NDArray]:
        """Cell (row, col) that contains projected point(s) x, y."""
        col = np.floor((np.asarray(x) - X0) / self.res).astype(np.int64)
        row = np.floor((Y0 - np.asarray(y)) / self.res).astype(np.int64)
        return row, col

    def lonlat(self, row: NDArray | int, col: NDArray | int) -> tuple[NDArray, NDArray]:
        """Longitude and latitude (degrees) of cell centres."""
        x, y = self.xy(row, col)
        return _TO_LONLAT.transform(x, y)

    def rowcol_of_lonlat(self, lon: NDArray | float, lat: NDArray | float) -> tuple[NDArray, NDArray]:
        """Cell (row, col) that contains lon/lat point(s)."""
        x, y = _FROM_LONLAT.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return self.rowcol(x, y)


def lonlat_to_xy(lon: NDArray | float, lat: NDArray | float) -> tuple[NDArray, NDArray]:
    """Project lon/lat (degrees) to EASE-Grid 2.0 x/y (m)."""
    return _FROM_LONLAT.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def xy_to_lonlat(x: NDArray | float, y: NDArray | float) -> tuple[NDArray, NDArray]:
    """Unproject EASE-Grid 2.0 x/y (m) to lon/lat (degrees)."""
    return _TO_LONLAT.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


@dataclass(frozen=True)
class RegionGrid:
    """A rectangular window of one global EASE-Grid 2.0 grid.

    Attributes:
        km: nominal resolution of the grid.
        row0, col0: global row/col of the window's upper-left cell.
        nrows, ncols: window shape.
    """

    km: int
    row0: int
    col0: int
    nrows: int
    ncols: int

    @property
    def grid(self) -> EaseGrid:
        return EaseGrid(self.km)

    @property
    def res(self) -> float:
        return self.grid.res

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrows, self.ncols)

    @property
    def transform(self) -> Affine:
        """Affine transform of the window (rasterio/rioxarray convention: pixel corners)."""
        return Affine(self.res, 0.0, X0 + self.col0 * self.res, 0.0, -self.res, Y0 - self.row0 * self.res)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in metres."""
        left = X0 + self.col0 * self.res
        top = Y0 - self.row0 * self.res
        return (left, top - self.nrows * self.res, left + self.ncols * self.res, top)

    @cached_property
    def x(self) -> NDArray[np.floating]:
        """Cell-centre x coordinates (m), west to east."""
        return X0 + (self.col0 + np.arange(self.ncols) + 0.5) * self.res

    @cached_property
    def y(self) -> NDArray[np.floating]:
        """Cell-centre y coordinates (m), north to south."""
        return Y0 - (self.row0 + np.arange(self.nrows) + 0.5) * self.res

    def lonlat(self) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
        """2-D lon and lat (degrees) of every cell centre."""
        xx, yy = np.meshgrid(self.x, self.y)
        return xy_to_lonlat(xx, yy)

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """(minlon, minlat, maxlon, maxlat) of the window's outer edge."""
        left, bottom, right, top = self.bounds
        xs = np.linspace(left, right, 33)
        ys = np.linspace(bottom, top, 33)
        edge_x = np.concatenate([xs, xs, np.full(33, left), np.full(33, right)])
        edge_y = np.concatenate([np.full(33, bottom), np.full(33, top), ys, ys])
        lon, lat = xy_to_lonlat(edge_x, edge_y)
        return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))

    def refine(self, km: int) -> RegionGrid:
        """The same area on a finer nested grid (``km`` must divide this grid's km)."""
        if self.km % km:
            raise GridError(f"{km} km does not nest in {self.km} km")
        f = self.km // km
        return RegionGrid(km, self.row0 * f, self.col0 * f, self.nrows * f, self.ncols * f)

    def window(self, row_off: int, col_off: int, nrows: int, ncols: int) -> RegionGrid:
        """A sub-window, offsets relative to this window."""
        if row_off < 0 or col_off < 0 or row_off + nrows > self.nrows or col_off + ncols > self.ncols:
            raise GridError(f"window ({row_off},{col_off},{nrows},{ncols}) outside {self.shape}")
        return RegionGrid(self.km, self.row0 + row_off, self.col0 + col_off, nrows, ncols)

    def to_global(self) -> tuple[slice, slice]:
        """Slices selecting this window from a global array of the same resolution."""
        return slice(self.row0, self.row0 + self.nrows), slice(self.col0, self.col0 + self.ncols)

    def coords(self) -> dict[str, NDArray[np.floating]]:
        """Coordinates for an xarray object (dims ``y``, ``x``)."""
        return {"y": self.y, "x": self.x}


#: Side of a processing tile (km): 288 x 288 1 km cells, 8 x 8 cells of 36 km, 32 x 32 of 9 km.
#: Twice the side of the first tiles (144 km): the same bytes, about 12 % less CPU per day from
#: a quarter of the per-tile reads and calls (docs/models.md, "Speed and memory").
TILE_KM = 288


@dataclass(frozen=True)
class Region:
    """A product region: a lon/lat bbox snapped outward to whole coarse cells.

    Every 1 km cell of ``fine`` nests in a complete coarse cell of ``coarse``.
    """

    bbox: tuple[float, float, float, float]
    coarse: RegionGrid
    fine: RegionGrid

    @property
    def factor(self) -> int:
        """Fine cells per coarse cell along one axis (36 or 9)."""
        return self.coarse.km // self.fine.km

    @property
    def tile_cells(self) -> int:
        """Coarse cells per side of a processing tile: tiles of about ``TILE_KM`` whatever the grid.

        Prediction, correction and the on-disk chunks of the gridded inputs share this tiling,
        so a tile reads whole chunks and peak memory is set by the tile, not the region.
        """
        return max(1, round(TILE_KM / self.coarse.km))

    @property
    def tile_pixels(self) -> int:
        """1 km cells per side of a processing tile."""
        return self.tile_cells * self.factor

    def coarse_index(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For every fine cell, the (row, col) of its coarse cell inside ``coarse`` (2-D arrays)."""
        r = np.arange(self.fine.nrows) // self.factor
        c = np.arange(self.fine.ncols) // self.factor
        return np.broadcast_to(r[:, None], self.fine.shape), np.broadcast_to(c[None, :], self.fine.shape)

    def coarse_flat_index(self) -> NDArray[np.int64]:
        """For every fine cell, the flat index of its coarse cell (row-major), shape of ``fine``."""
        r, c = self.coarse_index()
        return r * self.coarse.ncols + c


def region_from_bbox(
    bbox: tuple[float, float, float, float], coarse_km: int = 36, fine_km: int = 1
) -> Region:
    """Snap a lon/lat bbox outward to whole coarse cells and build the nested fine grid.

    The bbox edges are densified before projecting, so curved parallels/meridians cannot leave
    a corner of the area outside the snapped window.

    Raises:
        GridError: if the bbox falls outside the EASE-Grid 2.0 global extent (|lat| > ~85.04).
    """
    minlon, minlat, maxlon, maxlat = bbox
    lons = np.concatenate([np.linspace(minlon, maxlon, 33)] * 2 + [np.full(33, minlon), np.full(33, maxlon)])
    lats = np.concatenate([np.full(33, minlat), np.full(33, maxlat)] + [np.linspace(minlat, maxlat, 33)] * 2)
    x, y = lonlat_to_xy(lons, lats)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise GridError(f"bbox {bbox} cannot be projected to EASE-Grid 2.0 (latitude beyond ~85 degrees?)")
    grid = EaseGrid(coarse_km)
    eps = 1e-6 * grid.res  # a bbox edge on a cell boundary must not pull in the neighbour cell
    row_min, col_min = grid.rowcol(x.min() + eps, y.max() - eps)
    row_max, col_max = grid.rowcol(x.max() - eps, y.min() + eps)
    nrows_g, ncols_g = grid.shape
    if row_min < 0 or col_min < 0 or row_max >= nrows_g or col_max >= ncols_g:
        raise GridError(f"bbox {bbox} extends beyond the EASE-Grid 2.0 global grid")
    coarse = RegionGrid(
        coarse_km, int(row_min), int(col_min), int(row_max - row_min + 1), int(col_max - col_min + 1)
    )
    return Region(bbox=tuple(float(v) for v in bbox), coarse=coarse, fine=coarse.refine(fine_km))  # type: ignore[arg-type]
