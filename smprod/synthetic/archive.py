"""Write a whole synthetic archive (``smprod synth``): granules in the real formats + the truth.

Layout below ``out`` (any layout works for the system, which finds files by name):
``smap/``, ``modis/<product>/``, ``imerg/``, ``sif/`` (GOSIF 8-day composites,
:mod:`smprod.synthetic.fluorescence`), ``static/``, ``insitu/<network>/<station>/``,
``truth/truth_YYYYMMDD.tif``. Deterministic for a seed: no wall-clock time enters any file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject
from scipy import ndimage

from smprod.config import coarse_product_of
from smprod.grids.ease import CRS_EASE2, EaseGrid, Region, region_from_bbox
from smprod.grids.regrid import FWHM_PER_SIGMA, block_mean
from smprod.inputs.granules import modis_tiles
from smprod.synthetic import formats
from smprod.synthetic.fluorescence import write_sif
from smprod.synthetic.spec import WorldSpec
from smprod.synthetic.world import Day, World, simulate, smooth_noise

#: Release identifier written into SMAP names (a real SPL3SMP v9 CRID).
SMAP_RELEASE = "R19240"
#: Retrieval error of SMAP (m3/m3) and of not-recommended retrievals (design: 0.02-0.04).
SMAP_NOISE = 0.03
SMAP_BAD_NOISE = 0.07
SMAP_BAD_FRACTION = 0.08
SMAP_OVERPASS_COVER = 0.5
#: SPL3SMP_E is interpolated (Backus-Gilbert) to its 9 km grid from radiometer footprints of about
#: 33 km (NSIDC SPL3SMP_E user guide), so its values and its errors are smooth over ~33 km rather
#: than independent per 9 km cell. Modelled as a Gaussian footprint with that full width at half
#: maximum; the 36 km product (one footprint per cell) keeps cell means and independent errors.
ENHANCED_FOOTPRINT_KM = 33.0
#: IMERG: the last day exists only as Early, the one before as Early and Late; older as Final.
IMERG_NAMES = {"Final": "3B-DAY", "Late": "3B-DAY-L", "Early": "3B-DAY-E"}
N_STATIONS = 12


@dataclass
class SynthReport:
    """What was written."""

    out: Path
    region: Region
    files: Counter = field(default_factory=Counter)


def write_archive(
    out: Path,
    start: date,
    ndays: int,
    bbox: tuple[float, float, float, float],
    coarse_km: int = 36,
    seed: int = 0,
    spec: WorldSpec | None = None,
) -> SynthReport:
    """Simulate ``ndays`` from ``start`` over ``bbox`` and write the archive below ``out``.

    ``spec`` holds the world's knobs (:class:`~smprod.synthetic.spec.WorldSpec`; default: the
    world ``smprod synth`` has always written, file for file).
    """
    import rasterio

    spec = spec or WorldSpec()
    region = region_from_bbox(bbox, coarse_km)
    world = simulate(region, start, ndays, seed, spec=spec)
    rng = np.random.default_rng(seed + 1)
    report = SynthReport(Path(out), region)
    smap_error = SmapError.draw(spec, region, coarse_km, rng.spawn(1)[0])
    # one GDAL environment (rasterio's defaults) for every reprojection and GeoTIFF, not one each
    with rasterio.Env():
        _write_static(report, world)
        for i, day in enumerate(world.days):
            _write_smap(report, day, rng, coarse_km, smap_error)
            _write_imerg(report, day, rng, runs=_imerg_runs(i, ndays))
            _write_truth(report, day)
        _write_modis(report, world)
        report.files["sif"] += write_sif(report.out, world, seed)  # its own random stream
    _write_stations(report, world, rng)
    return report


def _imerg_runs(i: int, ndays: int) -> tuple[str, ...]:
    if i == ndays - 1:
        return ("Early",)
    if i == ndays - 2:
        return ("Early", "Late")
    if i == ndays - 3:
        return ("Late", "Final")
    return ("Final",)


# ----------------------------------------------------------------------------------- SMAP


def _footprint_sigma_cells(coarse_km: int) -> float:
    """Sigma (coarse cells) of the SPL3SMP_E footprint; 0 for SPL3SMP (one footprint per cell)."""
    return ENHANCED_FOOTPRINT_KM / FWHM_PER_SIGMA / coarse_km if coarse_km < 36 else 0.0


@dataclass(frozen=True)
class SmapError:
    """How the world's SMAP errs: random error (sigma, correlation in coarse cells), a static
    per-cell bias (fixed for the whole archive) and the AM and PM offsets."""

    noise: float
    correlation_cells: float
    static_bias: NDArray[np.float64] | float
    offsets: tuple[float, float]

    @classmethod
    def draw(cls, spec: WorldSpec, region: Region, coarse_km: int, rng: np.random.Generator) -> SmapError:
        """The error model of ``spec`` on the region's coarse grid (the bias drawn once)."""
        footprint = _footprint_sigma_cells(coarse_km)
        correlation = max(footprint, spec.smap_error_km / coarse_km)
        bias: NDArray[np.float64] | float = 0.0
        if spec.smap_static_bias:
            shape = region.coarse.shape
            unit = smooth_noise(rng, shape, correlation) if correlation else rng.normal(0, 1, shape)
            bias = spec.smap_static_bias * np.asarray(unit, np.float64)
        half = spec.smap_ampm_offset / 2
        return cls(spec.smap_noise, correlation, bias, (-half, half))


def _write_smap(
    report: SynthReport, day: Day, rng: np.random.Generator, coarse_km: int, error: SmapError
) -> None:
    region = report.region
    grid = EaseGrid(coarse_km)
    truth = block_mean(day.theta, region.factor)
    footprint = _footprint_sigma_cells(coarse_km)
    if footprint:
        truth = ndimage.gaussian_filter(truth, footprint, mode="nearest")
    lon, lat = _global_lonlat(coarse_km)
    passes = []
    scale = error.correlation_cells
    for offset in error.offsets:  # AM, PM
        seen = rng.random(truth.shape) < SMAP_OVERPASS_COVER
        bad = rng.random(truth.shape) < SMAP_BAD_FRACTION
        unit = smooth_noise(rng, truth.shape, scale) if scale else rng.normal(0, 1, truth.shape)
        noise = unit * np.where(bad, SMAP_BAD_NOISE, error.noise) + error.static_bias + offset
        value = np.where(seen, np.clip(truth + noise, 0.02, 0.5), np.nan)
        flag = np.where(bad, 0b0001, 0).astype(np.uint16)  # bit 0 set = not recommended
        sm_global = np.full(grid.shape, np.nan, np.float32)
        flag_global = np.full(grid.shape, 65534, np.uint16)
        sm_global[region.coarse.to_global()] = value
        flag_global[region.coarse.to_global()] = np.where(seen, flag, 0b0110)  # skipped: bits 1-2
        passes.append((sm_global, flag_global))
    short = coarse_product_of(coarse_km)
    prefix = "SMAP_L3_SM_P_" if coarse_km == 36 else "SMAP_L3_SM_P_E_"
    name = f"{prefix}{day.day:%Y%m%d}_{SMAP_RELEASE}_001.h5"
    formats.write_smap(report.out / "smap" / name, passes[0], passes[1], lat, lon, SMAP_RELEASE, short)
    report.files["smap"] += 1


_LONLAT_CACHE: dict[int, tuple[NDArray, NDArray]] = {}


def _global_lonlat(km: int) -> tuple[NDArray, NDArray]:
    if km not in _LONLAT_CACHE:
        grid = EaseGrid(km)
        rows, cols = np.indices(grid.shape)
        lon, lat = grid.lonlat(rows, cols)
        _LONLAT_CACHE[km] = (np.asarray(lon, np.float32), np.asarray(lat, np.float32))
    return _LONLAT_CACHE[km]


# ---------------------------------------------------------------------------------- MODIS


@cache
def rasterio_crs_ease() -> CRS:
    """EASE-Grid 2.0 (EPSG:6933) as rasterio's CRS, for warping the world's fields to a granule's grid."""
    return CRS.from_wkt(CRS_EASE2.to_wkt())


@cache
def _rasterio_tile_geometry(h: int, v: int, n: int) -> tuple[CRS, Any]:
    crs, transform = formats.tile_geometry(h, v, n)
    return CRS.from_wkt(crs.to_wkt()), transform


def _to_tile(
    values: NDArray, region: Region, h: int, v: int, n: int, nearest: bool = False, out: NDArray | None = None
) -> NDArray:
    """``values`` (region's 1 km grid) on tile hHHvVV of ``n`` pixels; ``out``: an all-NaN tile to use."""
    crs, transform = _rasterio_tile_geometry(h, v, n)
    if out is None:
        out = np.full((n, n), np.nan, np.float32)
    reproject(
        values.astype(np.float32),
        out,
        src_transform=region.fine.transform,
        src_crs=rasterio_crs_ease(),
        dst_transform=transform,
        dst_crs=crs,
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.nearest if nearest else Resampling.bilinear,
    )
    return out


def _stored(values: NDArray, scale: float, fill: int, dtype: str, divide: bool = False) -> NDArray:
    scaled = values * scale if divide else values / scale
    return np.where(np.isfinite(values), np.round(np.nan_to_num(scaled)), fill).astype(dtype)


#: Pixels of margin around the region's footprint on a tile (the bilinear footprint may reach a
#: pixel past the nearest-neighbour one); every day's field is checked to lie inside anyway.
_FOOTPRINT_MARGIN = 4


class _TileFootprint:
    """Where the region lands on one MODIS tile at ``n`` pixels per side, and the tile's buffers.

    The region covers a small window of a 1200 or 2400 pixel tile; everything outside it is the
    same fill every day. So each day's reprojected field is cut to the window, the SDS values
    are computed on the window only and pasted into one buffer per SDS that keeps the fill
    outside (the file content is that of the whole-tile computation, value for value). The
    reprojection itself stays whole-tile: GDAL's result depends on how it chunks the whole
    destination, so a window reprojected alone can differ in the last bits.
    """

    def __init__(self, region: Region, h: int, v: int, n: int) -> None:
        self.region, self.h, self.v, self.n = region, h, v, n
        inside = np.isfinite(_to_tile(np.ones(region.fine.shape), region, h, v, n, nearest=True))
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        if rows.size:
            m = _FOOTPRINT_MARGIN
            self.window = (
                slice(max(0, rows[0] - m), min(n, rows[-1] + m + 1)),
                slice(max(0, cols[0] - m), min(n, cols[-1] + m + 1)),
            )
        else:
            self.window = (slice(0, n), slice(0, n))
        self.inside = inside[self.window]
        self._buffers: dict[str, NDArray] = {}
        self._tile: NDArray | None = None

    def fields(self, *values: NDArray, nearest: bool = False) -> list[NDArray]:
        """Each of ``values`` reprojected to the tile, cut to the window (copies, one window)."""
        if self._tile is None:
            self._tile = np.full((self.n, self.n), np.nan, np.float32)
        tile = self._tile
        parts = []
        for field_values in values:
            _to_tile(field_values, self.region, self.h, self.v, self.n, nearest, out=tile)
            if np.count_nonzero(np.isfinite(tile[self.window])) != np.count_nonzero(np.isfinite(tile)):
                # a value outside the window (never seen): the whole tile from now on
                self._widen()
                return [_to_tile(x, self.region, self.h, self.v, self.n, nearest) for x in values]
            parts.append(tile[self.window].copy())
            tile[self.window] = np.nan  # all NaN again (nothing lies outside the window)
        return parts

    def _widen(self) -> None:
        inside = np.zeros((self.n, self.n), bool)
        inside[self.window] = self.inside
        self.window = (slice(0, self.n), slice(0, self.n))
        self.inside = inside
        self._buffers.clear()
        self._tile = None  # it holds that field's values

    def sds(self, name: str, window_values: NDArray, outside: int) -> NDArray:
        """The whole-tile SDS ``name``: ``window_values`` in the window, ``outside`` elsewhere.

        The buffer is reused by the next call for ``name``: write it before asking again.
        """
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != window_values.dtype:
            buf = np.full((self.n, self.n), outside, window_values.dtype)
            self._buffers[name] = buf
        buf[self.window] = window_values
        return buf


def _production(day: date) -> str:
    return f"{day + timedelta(days=1):%Y%j}000000"


def _modis_name(product: str, day: date, tile: str, collection: str = "061") -> str:
    return f"{product}.A{day:%Y%j}.{tile}.{collection}.{_production(day)}.hdf"


def _write_modis(report: SynthReport, world: World) -> None:
    region = report.region
    for tile in modis_tiles(region):
        h, v = int(tile[1:3]), int(tile[4:6])
        at_1km = _TileFootprint(region, h, v, 1200)
        at_500 = _TileFootprint(region, h, v, 2400)
        for day in world.days:
            for product, platform in (("MOD11A1", "Terra"), ("MYD11A1", "Aqua")):
                _write_lst(report, product, day, day.lst_day[platform], day.lst_night[platform], tile, at_1km)
            _write_albedo(report, day, tile, at_500)
        _write_vi(report, world, tile, at_1km)
        _write_landcover(report, world, tile, at_500)


def _write_tile(
    report: SynthReport,
    product: str,
    day: date,
    tile: str,
    grid_name: str,
    footprint: _TileFootprint,
    fields: dict[str, tuple[NDArray, int, dict[str, Any]]],
) -> None:
    """One tile file; ``fields``: SDS name -> (values on the window, value outside it, attributes)."""
    sds = {
        name: (footprint.sds(name, values, outside), attrs)
        for name, (values, outside, attrs) in fields.items()
    }
    target = report.out / "modis" / product / _modis_name(product, day, tile)
    formats.write_modis_tile(
        target, grid_name, sds, footprint.h, footprint.v, level=formats.deflate_level(product)
    )
    report.files[product] += 1


def _lst_qc(values: NDArray, inside: NDArray) -> NDArray:
    # MOD11 QC bits 0-1: 00 produced, good quality; 10 not produced due to cloud; 11 not produced
    return np.where(np.isfinite(values), 0, np.where(inside, 0b10, 0b11)).astype(np.uint8)


def _write_lst(  # type: ignore[no-untyped-def]
    report, product, day, lst_day, lst_night, tile, footprint: _TileFootprint
) -> None:
    tday, tnight = footprint.fields(lst_day, lst_night)
    # outside the window: no value (stored 0, the fill) and outside the region (QC 0b11)
    fields = {
        "LST_Day_1km": (_stored(tday, 0.02, 0, "uint16"), 0, formats.LST_ATTRS),
        "QC_Day": (_lst_qc(tday, footprint.inside), 0b11, formats.QC_LST_ATTRS),
        "LST_Night_1km": (_stored(tnight, 0.02, 0, "uint16"), 0, formats.LST_ATTRS),
        "QC_Night": (_lst_qc(tnight, footprint.inside), 0b11, formats.QC_LST_ATTRS),
    }
    _write_tile(report, product, day.day, tile, "MODIS_Grid_Daily_1km_LST", footprint, fields)


def _write_albedo(report: SynthReport, day: Day, tile: str, footprint: _TileFootprint) -> None:
    bsa, wsa = footprint.fields(day.albedo_bsa, day.albedo_wsa)
    quality = np.where(np.isfinite(bsa), 0, 255).astype(np.uint8)
    fields = {  # outside the window: the fill of each SDS
        "BRDF_Albedo_Band_Mandatory_Quality_shortwave": (quality, 255, formats.ALBEDO_QA_ATTRS),
        "Albedo_BSA_shortwave": (_stored(bsa, 0.001, 32767, "int16"), 32767, formats.ALBEDO_ATTRS),
        "Albedo_WSA_shortwave": (_stored(wsa, 0.001, 32767, "int16"), 32767, formats.ALBEDO_ATTRS),
    }
    _write_tile(report, "MCD43A3", day.day, tile, "MOD_Grid_BRDF", footprint, fields)


def composite_starts(first: date, last: date, period: int = 16) -> list[date]:
    """Start days of the composites of ``period`` days restarting each year on 1 January
    (MOD13A2 16 days: DOY 1, 17, ...; GOSIF 8 days: DOY 1, 9, ...) whose period meets first..last."""
    starts = []
    for year in range(first.year, last.year + 1):
        for doy in range(1, 366, period):
            start = date(year, 1, 1) + timedelta(days=doy - 1)
            if start <= last and start + timedelta(days=period - 1) >= first:
                starts.append(start)
    return starts


def _write_vi(report: SynthReport, world: World, tile: str, footprint: _TileFootprint) -> None:
    for start in composite_starts(world.days[0].day, world.days[-1].day):
        days = [d for d in world.days if start <= d.day <= start + timedelta(days=15)]
        ndvi, evi = footprint.fields(
            np.mean([d.ndvi for d in days], axis=0), np.mean([d.evi for d in days], axis=0)
        )
        good = np.isfinite(ndvi)
        fields = {  # outside the window: the fill of each SDS
            "1 km 16 days NDVI": (
                _stored(ndvi, 10000.0, -3000, "int16", divide=True),
                -3000,
                formats.VI_ATTRS,
            ),
            "1 km 16 days EVI": (
                _stored(evi, 10000.0, -3000, "int16", divide=True),
                -3000,
                {**formats.VI_ATTRS, "units": "EVI"},
            ),
            "1 km 16 days VI Quality": (
                np.where(good, 0, 65535).astype(np.uint16),
                65535,
                formats.VI_QUALITY_ATTRS,
            ),
            "1 km 16 days pixel reliability": (
                np.where(good, 0, -1).astype(np.int8),
                -1,
                formats.RELIABILITY_ATTRS,
            ),
        }
        _write_tile(report, "MOD13A2", start, tile, "MODIS_Grid_16DAY_1km_VI", footprint, fields)


def _write_landcover(report: SynthReport, world: World, tile: str, footprint: _TileFootprint) -> None:
    (lc,) = footprint.fields(world.statics.landcover.astype(np.float32), nearest=True)
    stored = np.where(np.isfinite(lc), np.nan_to_num(lc), 255).astype(np.uint8)
    year = date(world.days[0].day.year, 1, 1)
    fields = {"LC_Type1": (stored, 255, formats.LC_ATTRS)}
    _write_tile(report, "MCD12Q1", year, tile, "MCD12Q1", footprint, fields)


# ---------------------------------------------------------------------------------- IMERG


def latlon_window(region: Region, res: float = 0.1, margin: int = 1) -> tuple[slice, slice, object]:
    """Rows and columns of the global lat/lon lattice of ``res`` degrees (IMERG 0.1, GOSIF 0.05)
    that hold the region's coarse grid plus ``margin`` cells, and the window's transform."""
    from affine import Affine

    minlon, minlat, maxlon, maxlat = region.coarse.lonlat_bounds()
    ncols, nrows = round(360 / res), round(180 / res)
    # ``margin`` cells, kept inside the globe (a region may touch 180 degrees)
    c0 = max(0, int(np.floor((minlon + 180) / res)) - margin)
    c1 = min(ncols, int(np.ceil((maxlon + 180) / res)) + margin)
    r0 = max(0, int(np.floor((90 - maxlat) / res)) - margin)
    r1 = min(nrows, int(np.ceil((90 - minlat) / res)) + margin)
    transform = Affine(res, 0, -180 + c0 * res, 0, -res, 90 - r0 * res)
    return slice(r0, r1), slice(c0, c1), transform


def _write_imerg(report: SynthReport, day: Day, rng: np.random.Generator, runs: tuple[str, ...]) -> None:
    rows, cols, transform = latlon_window(report.region)
    window = np.full((rows.stop - rows.start, cols.stop - cols.start), np.nan, np.float32)
    reproject(
        day.precip,
        window,
        src_transform=report.region.fine.transform,
        src_crs=rasterio_crs_ease(),
        dst_transform=transform,
        dst_crs=CRS.from_epsg(4326),
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    for run in runs:
        error = rng.lognormal(0.0, {"Final": 0.25, "Late": 0.4, "Early": 0.5}[run], window.shape)
        estimate = np.where(window * error < 0.3, 0.0, window * error)  # light rain missed
        globe = np.zeros((1800, 3600), np.float32)
        globe[rows, cols] = np.nan_to_num(estimate)
        name = f"{IMERG_NAMES[run]}.MS.MRG.3IMERG.{day.day:%Y%m%d}-S000000-E235959.V07B.nc4"
        formats.write_imerg_daily(report.out / "imerg" / name, globe, day.day, run)
        report.files["imerg"] += 1


# ------------------------------------------------------------------------ static, truth, ISMN


def _write_static(report: SynthReport, world: World) -> None:
    from affine import Affine

    minlon, minlat, maxlon, maxlat = report.region.coarse.lonlat_bounds()
    res = 0.008
    transform = Affine(res, 0, minlon - 0.1, 0, -res, maxlat + 0.1)
    shape = (int((maxlat - minlat + 0.2) / res) + 1, int((maxlon - minlon + 0.2) / res) + 1)
    st = world.statics
    for name, values in (
        ("elevation", st.elevation),
        ("sand", st.sand),
        ("silt", st.silt),
        ("clay", st.clay),
    ):
        out = np.full(shape, np.nan, np.float32)
        reproject(
            values,
            out,
            src_transform=report.region.fine.transform,
            src_crs=rasterio_crs_ease(),
            dst_transform=transform,
            dst_crs=CRS.from_epsg(4326),
            src_nodata=np.nan,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
        formats.write_geotiff(report.out / "static" / f"{name}.tif", out, CRS.from_epsg(4326), transform)
        report.files["static"] += 1


def _write_truth(report: SynthReport, day: Day) -> None:
    target = report.out / "truth" / f"truth_{day.day:%Y%m%d}.tif"
    formats.write_geotiff(target, day.theta, CRS.from_epsg(6933), report.region.fine.transform)
    report.files["truth"] += 1


def _write_stations(report: SynthReport, world: World, rng: np.random.Generator) -> None:
    region = report.region
    lon, lat = region.fine.lonlat()
    rows = rng.integers(5, region.fine.nrows - 5, N_STATIONS)
    cols = rng.integers(5, region.fine.ncols - 5, N_STATIONS)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        network = "SYNTH-A" if i % 2 == 0 else "SYNTH-B"
        station = f"station{i:02d}"
        bias = rng.normal(0, 0.02)
        depths = [(0.05, 0.05)] + ([(0.10, 0.10)] if i == 0 else [])
        for depth in depths:
            hourly = []
            for day in world.days:
                base = float(day.theta[r, c]) + bias - (0.03 if depth[0] > 0.05 else 0.0)
                for hour in range(24):
                    value = max(
                        0.0, base + 0.004 * np.sin(2 * np.pi * (hour - 15) / 24) + rng.normal(0, 0.008)
                    )
                    u = rng.random()
                    flag = "G" if u > 0.07 else ("D02" if u > 0.02 else "C03")
                    hourly.append((f"{day.day:%Y/%m/%d} {hour:02d}:00", value, flag))
            first, last = world.days[0].day, world.days[-1].day
            depths_name = f"{depth[0]:.6f}_{depth[1]:.6f}"
            name = (
                f"{network}_{network}_{station}_sm_{depths_name}_SynthProbe_{first:%Y%m%d}_{last:%Y%m%d}.stm"
            )
            target = report.out / "insitu" / network / station / name
            formats.write_ismn(
                target,
                network,
                station,
                float(lat[r, c]),
                float(lon[r, c]),
                float(world.statics.elevation[r, c]),
                depth,
                "SynthProbe",
                hourly,
            )
            report.files["ismn"] += 1
