"""HDF-EOS2 grid metadata (``StructMetadata.0``) and the MODIS land sinusoidal tile grid.

A MODIS land tile is georeferenced by its HDF-EOS grid definition, not by lat/lon arrays: the
``StructMetadata.0`` global attribute holds, per grid, ``XDim``/``YDim`` and the outer corners
``UpperLeftPointMtrs``/``LowerRightMtrs`` (metres on the sinusoidal projection, pixel *edges*,
``GridOrigin=HDFE_GD_UL``). Parsing is pure (text in, frozen dataclasses out) so it is tested
without files.

Constants: MODIS Land tile grid (MODLAND "Sinusoidal tile grid" documentation; Wolfe, Roy &
Vermote 1998, IEEE TGRS 36(4), 1324-1338); the sphere radius is the ``ProjParams[0]``
that every MODIS land granule carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS

from smprod.errors import GranuleFormatError

#: Radius (m) of the sphere of the MODIS land sinusoidal projection (authalic sphere, MODLAND).
SPHERE_RADIUS = 6371007.181
#: Width and height (m) of one MODIS land tile: 36 x 18 tiles cover the globe.
TILE_SIZE = 1111950.5197665
N_TILES_H = 36
N_TILES_V = 18
#: Upper-left corner (m) of tile h00v00, i.e. of the whole tile grid.
GRID_X0 = -20015109.355798
GRID_Y0 = 10007554.677899
#: Corners written by different MODIS collections differ by < 1 mm; a wrong tile is off by a
#: whole tile (1111950 m), so any tolerance between those is safe. 10 m is far below a pixel.
TILE_CORNER_TOLERANCE_M = 10.0

_GRID_BLOCK_RE = re.compile(r"GROUP=(GRID_\d+)\s*\n(.*?)\n\s*END_GROUP=\1", re.DOTALL)


def sinusoidal_crs(radius: float = SPHERE_RADIUS) -> CRS:
    """The MODIS sinusoidal CRS on a sphere of ``radius`` metres (PROJ string; no EPSG code exists)."""
    return CRS.from_proj4(f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={radius!r} +units=m +no_defs +type=crs")


@dataclass(frozen=True)
class EosGrid:
    """One HDF-EOS2 grid of a granule: its size, outer corners and the fields it holds.

    Attributes:
        name: ``GridName`` (e.g. ``MODIS_Grid_Daily_1km_LST``).
        xdim, ydim: columns and rows.
        upper_left, lower_right: outer corners (x, y) in metres.
        projection: GCTP projection name (``GCTP_SNSOID`` for MODIS land).
        radius: sphere radius from ``ProjParams[0]`` (m).
        fields: ``DataFieldName`` of every field on this grid.
    """

    name: str
    xdim: int
    ydim: int
    upper_left: tuple[float, float]
    lower_right: tuple[float, float]
    projection: str
    radius: float
    fields: tuple[str, ...]

    @property
    def res_x(self) -> float:
        return (self.lower_right[0] - self.upper_left[0]) / self.xdim

    @property
    def res_y(self) -> float:
        return (self.upper_left[1] - self.lower_right[1]) / self.ydim

    @property
    def transform(self) -> Affine:
        """Affine transform of pixel corners (rasterio convention), north-up."""
        return Affine(self.res_x, 0.0, self.upper_left[0], 0.0, -self.res_y, self.upper_left[1])

    @cached_property
    def x(self) -> NDArray[np.float64]:
        """Pixel-centre x (m), west to east."""
        return np.asarray(self.upper_left[0] + (np.arange(self.xdim) + 0.5) * self.res_x, dtype=np.float64)

    @cached_property
    def y(self) -> NDArray[np.float64]:
        """Pixel-centre y (m), north to south."""
        return np.asarray(self.upper_left[1] - (np.arange(self.ydim) + 0.5) * self.res_y, dtype=np.float64)

    @property
    def crs(self) -> CRS:
        return sinusoidal_crs(self.radius)


def _value(block: str, key: str) -> str | None:
    match = re.search(rf"^\s*{key}=(.*?)\s*$", block, re.MULTILINE)
    return match.group(1).strip().strip('"') if match else None


def _pair(text: str) -> tuple[float, float]:
    x, y = text.strip("()").split(",")[:2]
    return float(x), float(y)


def _grid_from_block(block: str) -> EosGrid:
    params = (_value(block, "ProjParams") or "(0)").strip("()").split(",")
    radius = float(params[0]) if params and float(params[0]) > 0 else SPHERE_RADIUS
    return EosGrid(
        name=_value(block, "GridName") or "",
        xdim=int(_value(block, "XDim") or 0),
        ydim=int(_value(block, "YDim") or 0),
        upper_left=_pair(_value(block, "UpperLeftPointMtrs") or ""),
        lower_right=_pair(_value(block, "LowerRightMtrs") or ""),
        projection=_value(block, "Projection") or "",
        radius=radius,
        fields=tuple(re.findall(r'DataFieldName="([^"]+)"', block)),
    )


def parse_struct_metadata(text: str) -> tuple[EosGrid, ...]:
    """Every grid defined in a ``StructMetadata.0`` text.

    Raises:
        ValueError: if a grid lacks its size or corners (callers turn this into a
            GranuleFormatError naming the file).
    """
    grids = []
    for _, block in _GRID_BLOCK_RE.findall(text):
        try:
            grid = _grid_from_block(block)
        except ValueError as err:
            raise ValueError(f"grid definition without valid corners: {err}") from err
        if grid.xdim <= 0 or grid.ydim <= 0:
            raise ValueError(f"grid {grid.name!r} has no XDim/YDim")
        grids.append(grid)
    return tuple(grids)


def tile_upper_left(h: int, v: int) -> tuple[float, float]:
    """Upper-left corner (m) of tile ``hHHvVV`` on the MODIS land tile grid."""
    return GRID_X0 + h * TILE_SIZE, GRID_Y0 - v * TILE_SIZE


def grid_for_field(grids: tuple[EosGrid, ...], field: str, path: object) -> EosGrid:
    """The grid that holds ``field``; checked to be sinusoidal.

    Raises:
        GranuleFormatError: if no grid lists the field or the grid is not sinusoidal.
    """
    for grid in grids:
        if field in grid.fields or (len(grids) == 1 and not grid.fields):
            if grid.projection != "GCTP_SNSOID":
                raise GranuleFormatError(path, f"grid {grid.name!r} is {grid.projection!r}, not GCTP_SNSOID")
            return grid
    raise GranuleFormatError(path, f"StructMetadata.0 defines no grid holding {field!r}")


def check_tile(grid: EosGrid, path: object, h: int, v: int) -> tuple[int, int]:
    """Check the grid's corners against tile ``hHHvVV`` (named in the file name); return ``(h, v)``.

    Raises:
        GranuleFormatError: if the tile is outside the 36 x 18 grid, or the corners are not those
            of that tile.
    """
    if not (0 <= h < N_TILES_H and 0 <= v < N_TILES_V):
        raise GranuleFormatError(path, f"tile h{h:02d}v{v:02d} is outside the 36x18 MODIS tile grid")
    expected = (tile_upper_left(h, v), tile_upper_left(h + 1, v + 1))
    for (ex, ey), (x, y) in zip(expected, (grid.upper_left, grid.lower_right), strict=True):
        if abs(ex - x) > TILE_CORNER_TOLERANCE_M or abs(ey - y) > TILE_CORNER_TOLERANCE_M:
            raise GranuleFormatError(
                path,
                f"StructMetadata.0 corners {grid.upper_left}/{grid.lower_right} are not those of tile "
                f"h{h:02d}v{v:02d} named in the file ({expected[0]}/{expected[1]})",
            )
    return h, v
