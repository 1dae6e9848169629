"""The physics of the synthetic world, on the region's 1 km EASE-Grid 2.0 grid.

Deliberately nonlinear and only partly observable, so downscaling has to work for its skill:

* **Static fields.** Elevation = regional slope + multi-scale Gaussian-filtered noise (5, 15 and
  40 km); slope (degrees) from it; sand rises with elevation (coarse uplands), clay falls, both
  with their own 10 km noise; silt is the rest. Land cover (IGBP) from a vegetation potential
  (wetter lowlands: cropland 12 / forest 5; drier: grassland 10, savanna 9, shrubland 7).
* **Hydraulics** (Cosby et al. 1984 porosity; field capacity and wilting point from texture):
  porosity = 0.505 - 0.00142 sand - 0.00037 clay; fc = 0.12 + 0.0033 clay + 0.0010 silt;
  wp = 0.03 + 0.0025 clay.
* **Precipitation.** Storm cells: on a rainy day (probability 0.45) 2-8 Gaussian cells of
  10-50 km radius with exponential peak intensity (mean 22 mm/day), plus light stratiform rain.
* **Water balance** of a 5 cm layer (50 mm storage per unit theta), daily:
  infiltration = P (1 - runoff), runoff = min(0.9, (theta/porosity)^3 + slope/40);
  ET = PET veg (theta - wp)/(fc - wp) clipped to [0, 1], PET = 0.2 (T_air - 273.15) mm/day
  (at least 0.3; T_air seasonal, lapse rate 6.5 K/km); drainage = k_sat(sand) (theta - fc)+;
  lateral redistribution pulls theta toward a topographic wetness anomaly (valleys wetter),
  0.15/day.
  theta is kept in [0.5 wp, porosity].
* **Observations.** LST day = T_air + 10 (1 - 0.6 veg) (1 - beta) - 3 veg + noise(1.5 K), with
  beta = clip((theta - wp)/(fc - wp), 0, 1) the evaporative fraction;
  LST night = T_air - 9 + 6 theta/porosity + noise(1 K) (moist soil keeps heat). NDVI = land-cover
  base x (0.55 + 0.45 tanh(8 (theta_10d - wp))) + noise; EVI = 0.62 NDVI + noise. Shortwave
  albedo darkens when wet: bsa = base - 0.12 theta + noise, wsa = bsa + 0.015. Clouds: a smooth
  random field thresholded so each day has 30-60 % cover (per overpass, Terra and Aqua differ).
* **SMAP** = coarse-cell mean of the truth + retrieval noise (sigma 0.03 m3/m3) on each of AM and
  PM, each overpass seeing a cell on about 1 day in 2 (swath gaps), 8 % of retrievals flagged
  not-recommended (``retrieval_qual_flag`` bit 0) with a larger error. SPL3SMP_E (9 km): the
  mean and the error are both smooth over its ~33 km radiometer footprint
  (``archive.ENHANCED_FOOTPRINT_KM``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from smprod.grids.ease import Region
from smprod.synthetic.spec import WorldSpec

F32 = NDArray[np.float32]

#: IGBP classes used and their (NDVI base, shortwave albedo base, vegetation fraction).
LANDCOVER = {
    7: (0.35, 0.22, 0.35),
    9: (0.5, 0.19, 0.55),
    10: (0.45, 0.2, 0.5),
    12: (0.65, 0.17, 0.7),
    5: (0.8, 0.13, 0.9),
}
LAYER_MM = 50.0  # storage of the 5 cm layer per unit volumetric water content


def _landcover_property(landcover: NDArray[np.integer], index: int) -> F32:
    """``LANDCOVER[class][index]`` per pixel (float32), through one table look-up per class."""
    classes, inverse = np.unique(landcover, return_inverse=True)
    table = np.array([LANDCOVER[int(c)][index] for c in classes], np.float64)
    return table[inverse.reshape(landcover.shape)].astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_cells: float) -> F32:
    """Unit-variance Gaussian random field with correlation length ~``scale_cells``."""
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape), scale_cells, mode="wrap")
    return ((field_ - field_.mean()) / (field_.std() + 1e-12)).astype(np.float32)


@dataclass
class Statics:
    elevation: F32
    slope: F32
    sand: F32
    silt: F32
    clay: F32
    landcover: NDArray[np.int16]
    porosity: F32
    fc: F32
    wp: F32
    twi: F32
    veg: F32
    #: Persistent 1-3 km offset of field capacity no input shows (m3/m3; None without ``micro_pattern``).
    micro: F32 | None = None
    #: Irrigated pixels (None without ``irrigation``).
    irrigated: NDArray[np.bool_] | None = None
    #: Noon illumination of the terrain, cos(incidence) minus its regional mean.
    illumination: F32 | None = None


def make_statics(region: Region, rng: np.random.Generator, spec: WorldSpec | None = None) -> Statics:
    """Static fields of the region at 1 km (``spec``: the world's knobs; default world if None).

    The knobs that add fields draw them from their own generator, so the default world's
    random stream, and with it every file ``smprod synth`` wrote before, is unchanged. One
    function over 40 lines for the same reason: the draws must stay in this order.
    """
    spec = spec or WorldSpec()
    shape = region.fine.shape
    rows = np.linspace(0, 1, shape[0], dtype=np.float32)[:, None]
    # (written so that relief 1 gives the default world's exact floating-point sums)
    elevation = 350 + 250 * rows + spec.relief * 60 * smooth_noise(rng, shape, 40)
    elevation = elevation + spec.relief * 35 * smooth_noise(rng, shape, 15)
    elevation += spec.relief * 15 * smooth_noise(rng, shape, 5)
    gy, gx = np.gradient(elevation.astype(np.float64), region.fine.res)
    slope = np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)
    relief = (elevation - ndimage.uniform_filter(elevation, 25)).astype(np.float32)
    soil = spec.soil_weight
    sand = np.clip(35 + 0.06 * (elevation - 450) + soil * 9 * smooth_noise(rng, shape, spec.soil_km), 5, 90)
    clay = np.clip(28 - 0.03 * (elevation - 450) + soil * 6 * smooth_noise(rng, shape, spec.soil_km), 3, 60)
    clay = np.minimum(clay, 97 - sand)
    silt = 100 - sand - clay
    potential = -relief / (25 * spec.relief) + 0.8 * smooth_noise(rng, shape, spec.landcover_km)
    potential += spec.climate_spec.vegetation_shift
    landcover = np.select(
        [potential > 1.0, potential > 0.2, potential > -0.5, potential > -1.2], [5, 12, 10, 9], 7
    ).astype(np.int16)
    veg = _landcover_property(landcover, 2)
    porosity = (0.505 - 0.00142 * sand - 0.00037 * clay).astype(np.float32)
    fc = np.minimum(0.12 + 0.0033 * clay + 0.0010 * silt, porosity - 0.05).astype(np.float32)
    wp = (0.03 + 0.0025 * clay).astype(np.float32)
    twi = (-relief / (np.abs(relief).std() + 1e-6) - slope / (10 * spec.relief)).astype(np.float32)
    statics = Statics(
        elevation.astype(np.float32),
        slope,
        sand.astype(np.float32),
        silt.astype(np.float32),
        clay.astype(np.float32),
        landcover,
        porosity,
        fc,
        wp,
        twi,
        veg,
    )
    # A child generator: spawning does not advance ``rng``, so the default world is unchanged.
    _add_knob_fields(statics, spec, gx, gy, rng.spawn(1)[0])
    return statics


def _add_knob_fields(
    st: Statics, spec: WorldSpec, gx: NDArray[np.float64], gy: NDArray[np.float64], rng: np.random.Generator
) -> None:
    """The static fields only some knobs use (micro-pattern, irrigation, illumination)."""
    shape = st.elevation.shape
    if spec.micro_pattern:
        # 1-3 km structure (soil pipes, old field boundaries, compaction): persistent, unobserved.
        # It acts through the soil's water retention, which the texture maps do not show.
        pattern = 0.6 * smooth_noise(rng, shape, 1.0) + 0.4 * smooth_noise(rng, shape, 3.0)
        st.micro = (spec.micro_pattern * pattern / pattern.std()).astype(np.float32)
        st.fc = np.minimum(st.fc + st.micro, st.porosity - 0.05).astype(np.float32)
        st.wp = np.clip(st.wp + 0.5 * st.micro, 0.01, st.fc - 0.03).astype(np.float32)
    if spec.irrigation:
        # Fields of a few km (centre pivots), whatever the natural cover: they are cropland.
        score = smooth_noise(rng, shape, 2.5)
        st.irrigated = score >= np.quantile(score, 1 - spec.irrigation)
        st.landcover[st.irrigated] = 12
        st.veg[st.irrigated] = LANDCOVER[12][2]
    if spec.illumination_k:
        # Noon sun from the south at ~50 degrees elevation: cos(incidence) on the tilted surface.
        sun = np.array([0.0, -np.cos(np.radians(50.0)), np.sin(np.radians(50.0))])  # (east, north, up)
        normal = np.stack([-gx, gy, np.ones_like(gx)])  # rows grow southward, so north = -d/drow
        normal /= np.linalg.norm(normal, axis=0)
        incidence = np.tensordot(sun, normal, axes=1)
        st.illumination = (incidence - incidence.mean()).astype(np.float32)


def air_temperature(day: date, elevation: F32, offset_k: float = 0.0) -> F32:
    """Daily mean air temperature (K): seasonal cycle peaking late July, lapse 6.5 K/km."""
    doy = day.timetuple().tm_yday
    seasonal = 288.0 + offset_k + 12.0 * np.cos(2 * np.pi * (doy - 205) / 365.25)
    return (seasonal - 0.0065 * (elevation - 400)).astype(np.float32)


def storms(rng: np.random.Generator, region: Region, spec: WorldSpec | None = None) -> F32:
    """One day of 1 km precipitation (mm/day) from storm cells and light stratiform rain."""
    climate = (spec or WorldSpec()).climate_spec
    shape = region.fine.shape
    rain = np.zeros(shape, np.float32)
    if rng.random() < climate.rain_probability:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        for _ in range(int(rng.integers(2, 9))):
            cy, cx = rng.uniform(-20, shape[0] + 20), rng.uniform(-20, shape[1] + 20)
            radius = rng.uniform(10, 50)
            peak = rng.exponential(climate.storm_mm)
            rain += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        rain += np.clip(2.0 * smooth_noise(rng, shape, 60) + 1.0, 0, None)
    return rain


@dataclass
class Day:
    """One simulated day: the truth and what the sensors see."""

    day: date
    theta: F32
    precip: F32
    lst_day: dict[str, F32]  # platform -> field with NaN under cloud
    lst_night: dict[str, F32]
    ndvi: F32
    evi: F32
    albedo_bsa: F32
    albedo_wsa: F32


@dataclass
class World:
    region: Region
    statics: Statics
    days: list[Day] = field(default_factory=list)
    spec: WorldSpec = field(default_factory=WorldSpec)


def _clouds(
    rng: np.random.Generator, shape: tuple[int, int], spec: WorldSpec, rained: bool = False
) -> NDArray[np.bool_]:
    """A spatially coherent cloud mask covering a fraction drawn from ``spec.cloud`` of the region."""
    field_ = smooth_noise(rng, shape, 12)
    cover = rng.uniform(*spec.cloud) + (spec.cloud_after_rain if rained else 0.0)
    return field_ > np.quantile(field_, 1 - min(cover, 0.95))


#: Days between two waterings of an irrigated pixel, and the water content it is brought to
#: (a fraction of the way from field capacity to porosity).
IRRIGATION_EVERY = 3
IRRIGATION_FILL = 0.5


def simulate(
    region: Region, start: date, ndays: int, seed: int, spinup: int = 20, spec: WorldSpec | None = None
) -> World:
    """Run the world from ``start - spinup`` days; keep the last ``ndays``."""
    from datetime import timedelta

    spec = spec or WorldSpec()
    rng = np.random.default_rng(seed)
    st = make_statics(region, rng, spec)
    theta = (st.wp + 0.5 * (st.fc - st.wp)).astype(np.float32)
    memory = theta.copy()
    world = World(region, st, spec=spec)
    k_sat = (0.05 + 0.004 * st.sand).astype(np.float32)
    wet_target = np.clip(st.fc + 0.04 * spec.wetness_weight * st.twi, st.wp, st.porosity)
    rained_before = False
    for i in range(-spinup, ndays):
        day = start + timedelta(days=i)
        t_air = air_temperature(day, st.elevation, spec.climate_spec.air_offset_k)
        p = storms(rng, region, spec)
        runoff = np.minimum(0.9, (theta / st.porosity) ** 3 + st.slope / 40)
        theta = theta + p * (1 - runoff) / LAYER_MM
        pet = np.clip(0.2 * (t_air - 273.15), 0.3, None) / LAYER_MM
        stress = np.clip((theta - st.wp) / (st.fc - st.wp), 0, 1)
        theta = theta - pet * (0.4 + 0.6 * st.veg) * stress
        theta = theta - k_sat * np.clip(theta - st.fc, 0, None)
        theta = theta + 0.15 * (wet_target - theta) * (theta > st.wp)
        if st.irrigated is not None and i % IRRIGATION_EVERY == 0:
            watered = st.fc + IRRIGATION_FILL * (st.porosity - st.fc)
            theta = np.where(st.irrigated, np.maximum(theta, watered), theta)
        theta = np.clip(theta, 0.5 * st.wp, st.porosity).astype(np.float32)
        memory = (0.9 * memory + 0.1 * theta).astype(np.float32)
        rained = bool(p.mean() > 1.0)
        if i >= 0:
            world.days.append(_observe(rng, day, theta, memory, p, t_air, st, spec, rained or rained_before))
        rained_before = rained
    return world


def _cloud_edges(cloudy: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Clear pixels within 2 km of a cloud: where undetected cloud fringes cool the LST."""
    return ndimage.binary_dilation(cloudy, iterations=2) & ~cloudy


def _observe(rng, day, theta, memory, precip, t_air, st: Statics, spec: WorldSpec, rained: bool) -> Day:  # type: ignore[no-untyped-def]
    shape = theta.shape
    wetness = theta / st.porosity
    stress = np.clip((theta - st.wp) / (st.fc - st.wp), 0, 1)  # evaporative fraction proxy
    base_ndvi = _landcover_property(st.landcover, 0)
    base_alb = _landcover_property(st.landcover, 1)
    lst_day: dict[str, F32] = {}
    lst_night: dict[str, F32] = {}
    for platform, offset in (("Terra", 0.0), ("Aqua", 2.5)):
        day_field = t_air + offset + 10 * (1 - 0.6 * st.veg) * (1 - stress) - 3 * st.veg
        if st.illumination is not None:
            day_field = day_field + spec.illumination_k * st.illumination / (st.illumination.std() + 1e-6)
        day_field = day_field + 1.5 * rng.standard_normal(shape)
        night_field = t_air - 9 + 6 * wetness + rng.standard_normal(shape)
        for out, values in ((lst_day, day_field), (lst_night, night_field)):
            cloudy = _clouds(rng, shape, spec, rained)
            if spec.cloud_edge_k:
                values = values - spec.cloud_edge_k * _cloud_edges(cloudy)
            out[platform] = np.where(cloudy, np.nan, values).astype(np.float32)
    ndvi = base_ndvi * (0.55 + 0.45 * np.tanh(8 * (memory - st.wp))) + 0.02 * rng.standard_normal(shape)
    evi = 0.62 * ndvi + 0.015 * rng.standard_normal(shape)
    bsa = base_alb - 0.12 * theta + 0.005 * rng.standard_normal(shape)
    return Day(
        day,
        theta,
        precip.astype(np.float32),
        lst_day,
        lst_night,
        np.clip(ndvi, -0.2, 1).astype(np.float32),
        np.clip(evi, -0.2, 1).astype(np.float32),
        np.clip(bsa, 0.02, 0.6).astype(np.float32),
        np.clip(bsa + 0.015, 0.02, 0.6).astype(np.float32),
    )
