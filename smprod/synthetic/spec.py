"""What makes one synthetic world differ from another: the knobs of ``smprod synth``.

Real regions differ in climate, in what drives soil moisture below the SMAP cell, in how SMAP
errs and in how often MODIS sees the ground. A downscaling method judged on one kind of world
learns that world (issue 17: 15 % better than bilinear SMAP on this project's world, 2-4 % on an
independent one). :class:`WorldSpec` names those differences; its defaults are the world
``smprod synth`` has always written (same seed, same files), and :data:`SUITE` is the named set
of worlds ``benchmarks/accuracy.py --suite`` judges the method on.

Facts the knobs are set from (orders of magnitude, not fits):

* SMAP L3 retrieval error about 0.02-0.04 m3/m3 (Chan et al. 2016, IEEE TGRS 54(8); design
  "How accuracy is judged"), spatially correlated over tens of km and with static biases
  (vegetation and roughness parameters are static per cell), and an AM/PM difference of about
  0.01 (6 am vs 6 pm overpass, Chan et al. 2018).
* MODIS daily LST is missing under cloud on 30-60 % of days in humid regions, 15-40 % in dry
  ones, more after rain; cloud edges that pass the QC rule read cold (MOD11 user guide, Wan 2014).
* Within a 9 km cell, 1 km soil moisture varies by about 0.03 m3/m3, driven by topography
  (wetness index, slope, illumination), soil texture and land cover (Famiglietti et al. 2008,
  WRR 44; Crow et al. 2012, Rev. Geophys. 50).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Literal

from smprod.config import coarse_product_of

Climate = Literal["humid", "semi_arid"]


@dataclass(frozen=True)
class ClimateSpec:
    """Rain and heat of a climate (used by :func:`smprod.synthetic.world.simulate`)."""

    #: Probability that a day brings convective storm cells.
    rain_probability: float
    #: Mean peak intensity of a storm cell (mm/day, exponential).
    storm_mm: float
    #: Added to the seasonal air temperature (K): more evaporative demand.
    air_offset_k: float
    #: Shift of the vegetation potential (negative: sparser, drier land-cover classes).
    vegetation_shift: float


CLIMATES: dict[str, ClimateSpec] = {
    "humid": ClimateSpec(rain_probability=0.45, storm_mm=22.0, air_offset_k=0.0, vegetation_shift=0.0),
    # A Mediterranean / Great Plains late spring: rare storms, hot afternoons, long drydowns.
    "semi_arid": ClimateSpec(rain_probability=0.2, storm_mm=16.0, air_offset_k=6.0, vegetation_shift=-0.8),
}


@dataclass(frozen=True)
class WorldSpec:
    """The knobs of one synthetic world (defaults: the world ``smprod synth`` has always written).

    Attributes:
        climate: ``humid`` or ``semi_arid`` (:data:`CLIMATES`).
        relief: multiplier of the elevation's noise (1 = rolling plains, 4 = rugged).
        illumination_k: daytime LST response (K) to terrain illumination (sun-facing slopes warm).
        wetness_weight: strength of the pull towards the topographic wetness index (valleys wetter).
        soil_km, soil_weight: correlation length (km) and amplitude multiplier of texture noise.
        landcover_km: patch size (km) of the vegetation potential that sets land cover.
        irrigation: share of cropland pixels irrigated (in patches of a few km, every 4 days).
        micro_pattern: amplitude (m3/m3) of a persistent 1-3 km wetness pattern no input shows.
        smap_noise: SMAP random retrieval error (m3/m3, one sigma).
        smap_error_km: correlation length of SMAP's errors (0: independent per cell).
        smap_static_bias: one-sigma of a per-cell SMAP bias fixed in time (m3/m3).
        smap_ampm_offset: PM minus AM retrieval offset (m3/m3).
        cloud: range of the daily cloud fraction of each MODIS overpass.
        cloud_after_rain: cloud fraction added on a day with rain (and the day after).
        cloud_edge_k: cold bias (K) of clear pixels next to a cloud, which pass the QC rule.
    """

    climate: Climate = "humid"
    relief: float = 1.0
    illumination_k: float = 0.0
    wetness_weight: float = 1.0
    soil_km: float = 10.0
    soil_weight: float = 1.0
    landcover_km: float = 20.0
    irrigation: float = 0.0
    micro_pattern: float = 0.0
    smap_noise: float = 0.03
    smap_error_km: float = 0.0
    smap_static_bias: float = 0.0
    smap_ampm_offset: float = 0.0
    cloud: tuple[float, float] = (0.3, 0.6)
    cloud_after_rain: float = 0.0
    cloud_edge_k: float = 0.0

    @property
    def climate_spec(self) -> ClimateSpec:
        return CLIMATES[self.climate]

    def describe(self) -> dict[str, object]:
        """The knobs that differ from the default world (for tables and logs)."""
        default = asdict(WorldSpec())
        return {k: v for k, v in asdict(self).items() if default[k] != v}


@dataclass(frozen=True)
class SuiteWorld:
    """One world of the accuracy suite: where, when, at which SMAP grid, and its knobs.

    ``history`` is the number of days with a full set of lags before the first scored day (the
    training window); the archive holds 8 lag days before it, then ``history``, then ``test``.
    ``tuning`` False keeps the world out of every choice of a default until the final report.
    """

    name: str
    bbox: tuple[float, float, float, float]
    start: date
    coarse_km: int
    spec: WorldSpec = field(default_factory=WorldSpec)
    seed: int = 0
    history: int = 40
    test: int = 6
    tuning: bool = True

    @property
    def days(self) -> int:
        return 8 + self.history + self.test

    @property
    def coarse_product(self) -> str:
        return coarse_product_of(self.coarse_km)


_RUGGED = WorldSpec(
    climate="semi_arid",
    relief=4.0,
    illumination_k=3.0,
    wetness_weight=2.0,
    smap_noise=0.02,
    smap_error_km=40.0,
    smap_static_bias=0.02,
    smap_ampm_offset=0.01,
    cloud=(0.15, 0.5),
    cloud_after_rain=0.2,
    cloud_edge_k=3.0,
    micro_pattern=0.015,
)

#: The accuracy suite (``benchmarks/accuracy.py --suite``): six worlds to tune on, two held out.
#: Regions of about 3 x 2.5 degrees keep a suite run within the benchmark budget.
SUITE: tuple[SuiteWorld, ...] = (
    # The world smprod synth has always written: humid plains, independent SMAP errors.
    SuiteWorld("plains-36", (-100.0, 34.0, -97.0, 36.5), date(2024, 5, 1), 36, WorldSpec(), seed=7),
    # Central-Spain-like: semi-arid, rugged, correlated and biased SMAP, three weeks of history.
    SuiteWorld("sierra-9", (-5.0, 38.5, -2.5, 40.5), date(2025, 4, 20), 9, _RUGGED, seed=21, history=21),
    # Irrigated semi-arid plains: sharp wet patches that no precipitation explains.
    SuiteWorld(
        "irrigated-36",
        (-102.0, 36.0, -99.0, 38.5),
        date(2024, 6, 1),
        36,
        WorldSpec(
            climate="semi_arid", irrigation=0.5, smap_noise=0.04, micro_pattern=0.01, cloud=(0.1, 0.35)
        ),
        seed=31,
    ),
    # Humid, soil- and land-cover-driven, correlated SMAP errors, at 9 km.
    SuiteWorld(
        "soils-9",
        (-91.0, 40.0, -88.5, 42.0),
        date(2024, 5, 10),
        9,
        WorldSpec(soil_km=4.0, soil_weight=2.0, landcover_km=6.0, smap_error_km=30.0, smap_static_bias=0.015),
        seed=41,
    ),
    # Cloudy and humid, static SMAP biases over 60 km.
    SuiteWorld(
        "cloudy-36",
        (-84.0, 33.0, -81.0, 35.5),
        date(2024, 5, 1),
        36,
        WorldSpec(
            cloud=(0.5, 0.8),
            cloud_after_rain=0.15,
            smap_error_km=60.0,
            smap_static_bias=0.03,
            smap_ampm_offset=0.01,
            wetness_weight=1.5,
            landcover_km=8.0,
        ),
        seed=51,
    ),
    # Three weeks of history, semi-arid with a persistent pattern, at 36 km.
    SuiteWorld(
        "short-36",
        (-106.0, 34.0, -103.0, 36.5),
        date(2024, 5, 15),
        36,
        WorldSpec(
            climate="semi_arid", relief=2.0, wetness_weight=1.5, micro_pattern=0.02, cloud=(0.15, 0.45)
        ),
        seed=61,
        history=21,
    ),
    # Held out of all tuning: rugged and humid at 36 km; mixed drivers at 9 km.
    SuiteWorld(
        "holdout-hills-36",
        (8.0, 45.5, 11.5, 47.5),
        date(2024, 6, 1),
        36,
        replace(_RUGGED, climate="humid", cloud=(0.35, 0.65), smap_error_km=50.0, landcover_km=10.0),
        seed=71,
        history=30,
        tuning=False,
    ),
    SuiteWorld(
        "holdout-mixed-9",
        (-98.5, 31.0, -96.0, 33.0),
        date(2024, 7, 1),
        9,
        WorldSpec(
            climate="semi_arid",
            irrigation=0.3,
            soil_km=5.0,
            soil_weight=1.5,
            micro_pattern=0.015,
            smap_noise=0.025,
            smap_error_km=35.0,
            smap_static_bias=0.02,
            cloud=(0.2, 0.5),
            cloud_after_rain=0.2,
            cloud_edge_k=2.0,
        ),
        seed=81,
        history=28,
        tuning=False,
    ),
)


def suite_world(name: str) -> SuiteWorld:
    """The suite world called ``name``.

    Raises:
        KeyError: no world of that name (the message lists them).
    """
    for world in SUITE:
        if world.name == name:
            return world
    raise KeyError(f"no suite world {name!r}; the suite has {[w.name for w in SUITE]}")
