"""Solar-induced fluorescence of a synthetic world, written as GOSIF 8-day composites.

**Physics.** Fluorescence is emitted by the light-harvesting of green leaves, so it follows
absorbed photosynthetically active radiation times a light-use efficiency that water stress
lowers (Li & Xiao 2019 build GOSIF from exactly these: MODIS EVI, PAR and a vapour-pressure /
water term). Daily, at 1 km:

    SIF = SIF_MAX * fPAR * cos(theta_noon) * (1 - CLOUD_DIMMING * cloudy) * efficiency,
    fPAR = clip(1.24 NDVI - 0.168, 0, 1) (Myneni & Williams 1994),
    efficiency = EFFICIENCY_FLOOR + (1 - EFFICIENCY_FLOOR) * clip((theta_rz - wp)/(fc - wp), 0, 1),

with theta_rz a root-zone water content: the surface truth filtered with an e-folding time of
:data:`ROOT_ZONE_DAYS` days (the roots draw on water the 5 cm layer had days before), ``cloudy``
the Terra daytime cloud mask of the day. An 8-day composite is the mean of its days, averaged
to the 0.05 degree lattice (about 5 km: its information on a 36 km cell's inside is moderate)
plus retrieval noise of :data:`NOISE` W m-2 um-1 sr-1 per 0.05 degree cell (GOSIF's own error
against OCO-2 is of that order).

**Files.** ``sif/GOSIF_YYYYDDD.tif`` for every 8-day composite (DOY 1, 9, ..., 361; the last of
a year ends on 31 December) that meets the world's days, averaging the days the world has: int16,
value / 0.0001, EPSG:4326 on the global 0.05 degree lattice, cut to the region's bounding box plus
:data:`MARGIN_CELLS` (the reader accepts any file on the lattice); cells without data (outside
the simulated region) hold the water code 32767.

**Random stream.** The noise comes from a generator of its own (:func:`sif_rng`: the world seed
and :data:`SIF_STREAM`), so every other file of an archive is the same with or without SIF, and
:func:`write_sif_archive` adds the SIF of an archive written before from its world's seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from smprod.grids.ease import Region, region_from_bbox
from smprod.inputs.granules import SIF_COMPOSITE_DAYS
from smprod.inputs.readers.sif import RESOLUTION, SCALE, SNOW_ICE, WATER
from smprod.science.features import noon_solar_zenith
from smprod.synthetic import formats
from smprod.synthetic.spec import WorldSpec
from smprod.synthetic.world import Day, World, simulate

#: SIF (W m-2 um-1 sr-1) of full cover under a zenith sun without stress (dense crops reach 1-1.5 in GOSIF).
SIF_MAX = 1.2
#: Share of the light clouds take away on a cloudy day.
CLOUD_DIMMING = 0.5
#: Light-use efficiency left when the root zone is at the wilting point.
EFFICIENCY_FLOOR = 0.25
#: e-folding time (days) of the root-zone water content.
ROOT_ZONE_DAYS = 10.0
#: Retrieval noise (W m-2 um-1 sr-1) of a 0.05 degree cell of a composite.
NOISE = 0.03
#: Lattice cells around the region's bounding box in each file.
MARGIN_CELLS = 4
#: Second entropy word of the SIF generator (after the world seed).
SIF_STREAM = 0x51F


def sif_rng(seed: int) -> np.random.Generator:
    """The SIF noise generator of the world of ``seed`` (independent of every other stream)."""
    return np.random.default_rng([seed, SIF_STREAM])


def root_zone(days: list[Day]) -> Iterator[NDArray[np.float32]]:
    """The root-zone water content of each day: the surface truth exponentially filtered."""
    keep = float(np.exp(-1.0 / ROOT_ZONE_DAYS))
    state = days[0].theta.astype(np.float64)
    for day in days:
        state = keep * state + (1 - keep) * day.theta
        yield state.astype(np.float32)


def daily_sif(world: World, day: Day, theta_rz: NDArray, lat: NDArray) -> NDArray[np.float32]:
    """A day's SIF at 1 km (module docstring)."""
    st = world.statics
    fpar = np.clip(1.24 * day.ndvi - 0.168, 0.0, 1.0)
    sun = np.cos(noon_solar_zenith(lat, day.day.timetuple().tm_yday)).clip(0.0, 1.0)
    cloudy = ~np.isfinite(day.lst_day["Terra"])
    stress = np.clip((theta_rz - st.wp) / (st.fc - st.wp), 0.0, 1.0)
    efficiency = EFFICIENCY_FLOOR + (1 - EFFICIENCY_FLOOR) * stress
    return (SIF_MAX * fpar * sun * (1 - CLOUD_DIMMING * cloudy) * efficiency).astype(np.float32)


def composite_days(start: date) -> tuple[date, date]:
    """First and last day of the GOSIF 8-day composite starting on ``start``."""
    return start, min(start + timedelta(days=SIF_COMPOSITE_DAYS - 1), date(start.year, 12, 31))


def stored(values: NDArray) -> NDArray[np.int16]:
    """SIF (NaN: no data) as GOSIF stores it: value / 0.0001 in int16, NaN as the water code."""
    scaled = np.round(np.clip(np.nan_to_num(values, nan=0.0), 0.0, (SNOW_ICE - 1) * SCALE) / SCALE)
    return np.where(np.isfinite(values), scaled, WATER).astype(np.int16)


def write_sif(out: Path, world: World, seed: int) -> int:
    """Write the world's GOSIF composites below ``out / "sif"``; returns how many."""
    from smprod.synthetic.archive import composite_starts, latlon_window

    rng = sif_rng(seed)
    _, lat = world.region.fine.lonlat()
    daily = {
        d.day: daily_sif(world, d, rz, lat) for d, rz in zip(world.days, root_zone(world.days), strict=True)
    }
    rows, cols, transform = latlon_window(world.region, RESOLUTION, MARGIN_CELLS)
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    starts = composite_starts(world.days[0].day, world.days[-1].day, SIF_COMPOSITE_DAYS)
    for start in starts:
        first, last = composite_days(start)
        mean = np.mean([v for when, v in daily.items() if first <= when <= last], axis=0)
        cells = _to_lattice(world.region, mean, transform, shape)
        noisy = cells + NOISE * rng.standard_normal(shape)
        target = out / "sif" / f"GOSIF_{start:%Y%j}.tif"
        formats.write_geotiff(target, stored(noisy), CRS.from_epsg(4326), transform, None, "int16")
    return len(starts)


def _to_lattice(region: Region, values: NDArray, transform: object, shape: tuple[int, int]) -> NDArray:
    """A 1 km field averaged onto a window of the 0.05 degree lattice (NaN where it has no data)."""
    from smprod.synthetic.archive import rasterio_crs_ease

    cells = np.full(shape, np.nan, np.float32)
    reproject(
        values.astype(np.float32),
        cells,
        src_transform=region.fine.transform,
        src_crs=rasterio_crs_ease(),
        dst_transform=transform,
        dst_crs=CRS.from_epsg(4326),
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    return cells


def write_sif_archive(
    out: Path,
    start: date,
    ndays: int,
    bbox: tuple[float, float, float, float],
    coarse_km: int = 36,
    seed: int = 0,
    spec: WorldSpec | None = None,
) -> int:
    """Add the SIF composites to an archive :func:`smprod.synthetic.archive.write_archive` wrote
    with the same arguments (the world is simulated again: deterministic for its seed and spec);
    returns how many were written."""
    world = simulate(region_from_bbox(bbox, coarse_km), start, ndays, seed, spec=spec or WorldSpec())
    return write_sif(Path(out), world, seed)
