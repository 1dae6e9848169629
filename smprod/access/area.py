"""Statistics of one product day over an area: a lon/lat bbox or a GeoJSON (Multi)Polygon.

The area's 1 km cells are chosen on the product grid (EASE-Grid 2.0, EPSG:6933):

* a **bbox** covers the cells it intersects, snapped outward as :func:`smprod.access.extract.area_window`
  does for ``smprod extract`` (the statistics are those of the extract's pixels);
* a **polygon** covers the cells whose centre lies inside it (GDAL's rasterisation rule, as in
  most zonal-statistics tools), holes excluded. Its edges are straight in lon/lat (RFC 7946):
  they are densified to :data:`DENSIFY_DEGREES` before projecting, so a slanted edge stays where
  it is drawn on a lon/lat map.

Cells of the area beyond the region are counted (``outside_region``), not read. Only the window
of the COGs that holds the area's cells is read (:func:`smprod.product.read.read_layers`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from smprod.access.extract import area_window
from smprod.errors import ConfigError, MissingInputError
from smprod.grids.ease import X0, Y0, EaseGrid, Region, RegionGrid, lonlat_to_xy
from smprod.layout import WorkLayout
from smprod.product.bands import QA_NODATA
from smprod.product.read import read_layers
from smprod.qa import QA_DESCRIPTIONS

#: Percentiles of the soil moisture reported (numpy's linear interpolation).
PERCENTILES = (5, 25, 50, 75, 95)
#: Longest polygon edge segment projected as a straight line (degrees of lon or lat).
DENSIFY_DEGREES = 0.01
#: Most 1 km cells a polygon's bounding box may span on the global grid (its mask is one byte a
#: cell): about a 5000 km square, larger than any region smprod produces.
MAX_AREA_CELLS = 25_000_000
#: GeoJSON types that are areas, and the wrapper whose geometry is taken.
POLYGON_TYPES = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class AreaMask:
    """The cells of an area on the region's 1 km grid.

    Attributes:
        kind: ``bbox`` or ``polygon``.
        rows, cols: the window of ``region.fine`` holding the area's cells in the region.
        inside: which cells of the window belong to the area (shape of the window).
        outside_region: cells of the area beyond the region (not produced there).
        description: what was asked for (the bbox, or the polygon count), for answers.
    """

    kind: str
    rows: slice
    cols: slice
    inside: NDArray[np.bool_]
    outside_region: int
    description: dict[str, Any]


@dataclass(frozen=True)
class AreaStatistics:
    """One day's soil moisture over an area (m3/m3; NaN where no cell has a value).

    Attributes:
        day: the product day.
        area: the :class:`AreaMask` the statistics are of.
        cells: the area's cells in the region; ``valid`` of them have a soil moisture value.
        mean, std, minimum, maximum: of the valid cells (``std``: population, ddof 0).
        percentiles: ``p5`` ... ``p95`` (:data:`PERCENTILES`).
        uncertainty_mean: mean 1-sigma uncertainty of the valid cells.
        qa_counts: QA flag name -> cells of the area with that bit set.
        model_version: the model version of the day (provenance).
    """

    day: date
    area: AreaMask
    cells: int
    valid: int
    mean: float
    std: float
    minimum: float
    maximum: float
    percentiles: dict[str, float]
    uncertainty_mean: float
    qa_counts: dict[str, int]
    model_version: str

    def to_json(self) -> dict[str, Any]:
        """A JSON object (numbers, NaN as null) of the statistics."""
        return {
            "day": self.day.isoformat(),
            "area": {"kind": self.area.kind, **self.area.description},
            "cells": self.cells,
            "valid_cells": self.valid,
            "cells_without_value": self.cells - self.valid,
            "cells_outside_region": self.area.outside_region,
            "soil_moisture": {
                "mean": _number(self.mean),
                "std": _number(self.std),
                "min": _number(self.minimum),
                "max": _number(self.maximum),
                "percentiles": {key: _number(value) for key, value in self.percentiles.items()},
            },
            "uncertainty_mean": _number(self.uncertainty_mean),
            "qa_counts": self.qa_counts,
            "model_version": self.model_version,
            "units": "m3/m3",
        }


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def bbox_area(region: Region, bbox: tuple[float, float, float, float]) -> AreaMask:
    """The cells a lon/lat bbox intersects (as ``smprod extract`` cuts them).

    Raises:
        ConfigError: if the bbox is malformed or lies outside the region.
    """
    window = area_window(region, bbox)
    requested = window.requested.nrows * window.requested.ncols
    inside = np.ones(window.grid.shape, dtype=bool)
    outside = requested - int(inside.size)
    return AreaMask("bbox", window.rows, window.cols, inside, outside, {"bbox": list(window.bbox)})


def polygon_area(region: Region, geojson: Any) -> AreaMask:
    """The cells whose centre lies in a GeoJSON Polygon or MultiPolygon (or a Feature of one).

    Raises:
        ConfigError: if the GeoJSON is not such a geometry, is malformed (the message says
            where), is too large (:data:`MAX_AREA_CELLS`) or covers no cell of the region.
    """
    polygons = polygon_rings(geojson)
    projected = [[_projected_ring(ring) for ring in rings] for rings in polygons]
    window = _bounding_window(region.fine.km, projected)
    mask = _rasterise(projected, window)
    fine = region.fine
    rows = _overlap(window.row0, window.nrows, fine.row0, fine.nrows)
    cols = _overlap(window.col0, window.ncols, fine.col0, fine.ncols)
    within = mask[
        rows[0] - window.row0 : rows[1] - window.row0, cols[0] - window.col0 : cols[1] - window.col0
    ]
    if not within.any():
        west, south, east, north = fine.lonlat_bounds()
        raise ConfigError(
            f"the polygon covers no 1 km cell centre of the region (lon {west:.4f} to {east:.4f}, lat "
            f"{south:.4f} to {north:.4f}): give a polygon that overlaps it"
        )
    used_rows, used_cols = np.flatnonzero(within.any(axis=1)), np.flatnonzero(within.any(axis=0))
    r0, r1, c0, c1 = used_rows[0], used_rows[-1] + 1, used_cols[0], used_cols[-1] + 1
    top, left = rows[0] - fine.row0 + r0, cols[0] - fine.col0 + c0
    return AreaMask(
        "polygon",
        slice(int(top), int(top + r1 - r0)),
        slice(int(left), int(left + c1 - c0)),
        within[r0:r1, c0:c1].copy(),
        int(mask.sum() - within.sum()),
        {"polygons": len(polygons)},
    )


def _overlap(start: int, size: int, other_start: int, other_size: int) -> tuple[int, int]:
    """The overlap of two index ranges (empty ranges give start == end)."""
    low, high = max(start, other_start), min(start + size, other_start + other_size)
    return low, max(low, high)


def polygon_rings(geojson: Any) -> list[list[list[tuple[float, float]]]]:
    """The polygons of a GeoJSON Polygon/MultiPolygon (or Feature): polygons -> rings -> (lon, lat).

    Raises:
        ConfigError: naming what is wrong (type, nesting, a ring that is short or not closed, a
            position that is not two finite numbers within -180..180, -90..90).
    """
    if isinstance(geojson, Mapping) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, Mapping) or geojson.get("type") not in POLYGON_TYPES:
        kind = geojson.get("type") if isinstance(geojson, Mapping) else type(geojson).__name__
        raise ConfigError(
            f"GeoJSON {kind!r} is not an area: send a Polygon or MultiPolygon geometry (or a Feature "
            'with one), e.g. {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'
        )
    coordinates = geojson.get("coordinates")
    polygons = [coordinates] if geojson["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        raise ConfigError(f"{geojson['type']} has no coordinates: give a list of linear rings")
    return [_polygon(polygon, n) for n, polygon in enumerate(polygons)]


def _polygon(polygon: Any, number: int) -> list[list[tuple[float, float]]]:
    if not isinstance(polygon, list) or not polygon:
        raise ConfigError(f"polygon {number}: expected a list of linear rings, got {polygon!r:.80}")
    return [_ring(ring, f"polygon {number}, ring {n}") for n, ring in enumerate(polygon)]


def _ring(ring: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ConfigError(f"{where}: a linear ring needs at least 4 positions (the last equal to the first)")
    positions = [_position(position, f"{where}, position {n}") for n, position in enumerate(ring)]
    if positions[0] != positions[-1]:
        raise ConfigError(
            f"{where} is not closed: its first position {list(positions[0])} differs from its last "
            f"{list(positions[-1])} (GeoJSON rings repeat the first position at the end)"
        )
    return positions


def _position(position: Any, where: str) -> tuple[float, float]:
    numbers = position if isinstance(position, list) and len(position) >= 2 else None
    if numbers is None or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in numbers[:2]
    ):
        raise ConfigError(f"{where}: expected [lon, lat] numbers, got {position!r:.80}")
    lon, lat = float(numbers[0]), float(numbers[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ConfigError(f"{where}: [{lon}, {lat}] is not a longitude in -180..180 and latitude in -90..90")
    return lon, lat


def _projected_ring(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ring densified in lon/lat and projected to EASE-Grid 2.0 metres."""
    lons, lats = [], []
    for (lon0, lat0), (lon1, lat1) in itertools.pairwise(ring):
        steps = max(1, math.ceil(max(abs(lon1 - lon0), abs(lat1 - lat0)) / DENSIFY_DEGREES))
        fractions = np.arange(steps) / steps
        lons.append(lon0 + (lon1 - lon0) * fractions)
        lats.append(lat0 + (lat1 - lat0) * fractions)
    x, y = lonlat_to_xy(np.concatenate([*lons, [ring[-1][0]]]), np.concatenate([*lats, [ring[-1][1]]]))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("the polygon reaches beyond EASE-Grid 2.0 (latitudes within about 85.04 N/S)")
    return list(zip(x.tolist(), y.tolist(), strict=True))


def _bounding_window(km: int, polygons: list[list[list[tuple[float, float]]]]) -> RegionGrid:
    """The window of the global grid that holds the polygons' bounding box."""
    grid = EaseGrid(km)
    points = np.array([point for rings in polygons for point in rings[0]])
    row0 = max(0, math.floor((Y0 - points[:, 1].max()) / grid.res))
    row1 = min(grid.shape[0], math.floor((Y0 - points[:, 1].min()) / grid.res) + 1)
    col0 = max(0, math.floor((points[:, 0].min() - X0) / grid.res))
    col1 = min(grid.shape[1], math.floor((points[:, 0].max() - X0) / grid.res) + 1)
    cells = (row1 - row0) * (col1 - col0)
    if cells > MAX_AREA_CELLS:
        raise ConfigError(
            f"the polygon spans {cells} cells of 1 km (its bounding box), more than {MAX_AREA_CELLS}: "
            "send the part that overlaps the region"
        )
    return RegionGrid(km, row0, col0, max(1, row1 - row0), max(1, col1 - col0))


def _rasterise(polygons: list[list[list[tuple[float, float]]]], window: RegionGrid) -> NDArray[np.bool_]:
    """Cells of ``window`` whose centre is inside one of the (projected) polygons."""
    from rasterio.features import geometry_mask

    shapes = [{"type": "Polygon", "coordinates": rings} for rings in polygons]
    return geometry_mask(shapes, out_shape=window.shape, transform=window.transform, invert=True)


def area_statistics(layout: WorkLayout, region: Region, day: date, area: AreaMask) -> AreaStatistics:
    """The statistics of ``day`` over ``area``, from the window of the day's COGs that holds it.

    Raises:
        MissingInputError: if the day has no product (the message gives the produced days).
        ProductError: if the day's files cannot be read or are on another grid.
    """
    files = layout.product_files(day)
    if not files.soil_moisture.exists():
        raise MissingInputError(f"no product for {day}: {_produced(layout)}")
    read = read_layers(files, (area.rows, area.cols), grid=region.fine)
    sm = read.layers["soil_moisture"][area.inside]
    sigma = read.layers["uncertainty"][area.inside]
    qa = read.layers["qa"][area.inside]
    valid = np.isfinite(sm)
    values = sm[valid].astype(np.float64)
    found = values.size > 0
    percentiles = np.percentile(values, PERCENTILES) if found else np.full(len(PERCENTILES), np.nan)
    flagged = qa[qa != QA_NODATA]
    sigmas = sigma[valid & np.isfinite(sigma)].astype(np.float64)
    return AreaStatistics(
        day=day,
        area=area,
        cells=int(area.inside.sum()),
        valid=int(values.size),
        mean=float(values.mean()) if found else math.nan,
        std=float(values.std()) if found else math.nan,
        minimum=float(values.min()) if found else math.nan,
        maximum=float(values.max()) if found else math.nan,
        percentiles={f"p{p}": float(v) for p, v in zip(PERCENTILES, percentiles, strict=True)},
        uncertainty_mean=float(sigmas.mean()) if sigmas.size else math.nan,
        qa_counts={name: int(np.count_nonzero(flagged & bit)) for bit, name in QA_DESCRIPTIONS.items()},
        model_version=str(read.provenance.get("model", {}).get("version", "")),
    )


def _produced(layout: WorkLayout) -> str:
    """The produced days, briefly, for a message about a day that was not."""
    days = layout.product_days()
    if not days:
        return f"no day is produced under {layout.root / 'products'}"
    listed = ", ".join(day.isoformat() for day in days[-5:])
    return f"{len(days)} day(s) are produced, {days[0]} .. {days[-1]} (newest: {listed})"
